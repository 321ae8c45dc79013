"""kerarch recipes: one module per recipe, `recipes/<snake_name>.py` for `<kebab-name>`.

Each module registers a `kerarch.frame.Recipe` subclass with
`@register_recipe("kebab-name")`; `kerarch list` shows them all.
"""
