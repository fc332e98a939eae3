"""A plugin that registers a model that is not callable: listed as failed."""

import odebench


@odebench.hookimpl
def register_models(register):
    register("fault-noncallable", "not a factory")
