"""A plugin that registers a model under a non-string name: listed as failed."""

import odebench


@odebench.hookimpl
def register_models(register):
    register(42, lambda shape: None)
