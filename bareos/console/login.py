"""Which director bconsole calls, as whom, with which key and TLS directives (no Twisted)."""

DEFAULT_CONSOLE = "*UserAgent*"


class ConsoleLoginFailed(Exception):
    pass


def login_parameters(config, director_name=None):
    """Which director to call, as whom, with which key, and the resource whose TLS
    directives apply (``bareos.network.tls``).

    A Console resource in bconsole.conf makes a named console; without one the
    default console logs in with the Director resource's password.
    """
    directors = config.resources("director")
    if director_name:
        directors = [d for d in directors if d.name == director_name]
        if not directors:
            raise ConsoleLoginFailed(f"no Director resource named {director_name!r} in the configuration")
    director = directors[0]
    consoles = [c for c in config.resources("console")
                if not getattr(c, "director", None) or c.director == director.name]
    if consoles:
        console = consoles[0]
        return director, console.name, console.password.key, console
    return director, DEFAULT_CONSOLE, director.password.key, director
