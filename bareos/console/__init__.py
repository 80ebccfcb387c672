"""bconsole: the administrator's console to the director."""
