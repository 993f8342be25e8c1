"""Built-in auth-method plugins, one folder each."""
