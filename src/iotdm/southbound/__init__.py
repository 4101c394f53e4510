"""Device access: the listeners devices connect to and the protocols they speak."""
