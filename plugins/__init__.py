"""odebench's default plugins, installed as ``odebench_plugins`` and registered through the
``odebench`` entry-point group exactly like a third party's plugins."""
