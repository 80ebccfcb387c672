"""Fuzzing the configuration loader (lexer, parser, binder) with each program's schema.

The seeds are the real configurations the quickstart writes (``bareos.config.writer``):
mutated line by line (lines dropped, doubled, swapped), token by token (punctuation,
quotes, ``@``, ``#``, hostile values put in) and character by character; plus random
text.  Loading may only fail with ``ConfigError`` naming the file (and the line, where one is at fault), never
with another exception.  How many cases: see ``fuzzing``.
"""

from hypothesis import given, strategies as st

from bareos.config import ConfigError, load_config
from bareos.config.schemas import CONSOLE, DIRECTOR, FILEDAEMON, STORAGEDAEMON
from bareos.quickstart import single_host_resources

from fuzzing import fuzz_settings

SCHEMAS = {"dir": DIRECTOR, "fd": FILEDAEMON, "sd": STORAGEDAEMON, "console": CONSOLE}

VALUES = ["99999999999999999999", "-1", "0", "1e999", "nan", "", '""', '"', "\\", "yes", "no",
          "1 GB", "-5 days", "99999999999999999999 years", "65536", "\u0663", "\x00", "\ufeff",
          "all, !skipped", "= =", "{", "}", ";", ",", "@", "@*", "#", "a b c", "*all*",
          "127.0.0.1", "::1", "999.1.1.1", "localhost:70000", "Full", "md5", "File", "/", "\n"]
FRAGMENTS = ["{", "}", "=", ";", ",", '"', "#", "@", "\\", "\n", " ", "Name", "Password",
             "Include {", "Options {", "File =", "Run =", "Address =", "Port ="]
EDIT = st.one_of(
    st.tuples(st.just("drop line"), st.integers(min_value=0)),
    st.tuples(st.just("double line"), st.integers(min_value=0)),
    st.tuples(st.just("swap lines"), st.integers(min_value=0), st.integers(min_value=0)),
    st.tuples(st.just("new value"), st.integers(min_value=0), st.sampled_from(VALUES)),
    st.tuples(st.just("insert"), st.integers(min_value=0),
              st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6))),
    st.tuples(st.just("cut"), st.integers(min_value=0), st.integers(min_value=1, max_value=40)),
)


def edit(text, edits):
    for kind, position, *argument in edits:
        lines = text.split("\n")
        line = position % len(lines)
        if kind == "drop line":
            del lines[line]
        elif kind == "double line":
            lines.insert(line, lines[line])
        elif kind == "swap lines":
            other = argument[0] % len(lines)
            lines[line], lines[other] = lines[other], lines[line]
        elif kind == "new value":
            name, equals, _value = lines[line].partition("=")
            lines[line] = f"{name}= {argument[0]}" if equals else argument[0]
        else:
            at = position % (len(text) + 1)
            tail = text[at + argument[0]:] if kind == "cut" else argument[0] + text[at:]
            lines = (text[:at] + tail).split("\n")
        text = "\n".join(lines)
    return text


def seeds(root):
    """``(program, configuration text)`` of the quickstart's configurations."""
    daemons, bconsole, _work, _volumes = single_host_resources(root)
    return [(daemon, "".join(files.values())) for daemon, files in daemons.items()] + [
        ("console", bconsole)]


def test_no_configuration_crashes_the_loader(tmp_path):
    configs = seeds(tmp_path)
    for program, text in configs:              # the seeds themselves load
        (tmp_path / "seed.conf").write_text(text)
        load_config(tmp_path / "seed.conf", SCHEMAS[program])
    loaded = refused = 0

    @fuzz_settings
    @given(config=st.sampled_from(configs), edits=st.lists(EDIT, min_size=1, max_size=5),
           program=st.sampled_from([None, None, None, *SCHEMAS]),
           noise=st.one_of(st.none(), st.none(), st.none(), st.text(max_size=80)))
    def one_config(config, edits, program, noise):
        nonlocal loaded, refused
        seed_program, text = config
        text = edit(text, edits) if noise is None else noise
        path = tmp_path / "fuzz.conf"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_config(path, SCHEMAS[program or seed_program])
            loaded += 1
        except ConfigError as error:
            refused += 1
            # a line, unless the fault is the file's as a whole ("no Director resource")
            assert error.file and error.message, error

    one_config()
    print(f"\n{loaded + refused} configurations: {loaded} loaded, {refused} refused")
