"""wardgate's core: the framework plugins are written against, and the server around them."""
