"""Fuzzing: the script parser never fails with anything but `ScriptError`; the API never answers 500 and keeps its schema.

Bounded by `max_examples` so the whole file runs in well under a minute on
two cores.
"""

from __future__ import annotations

import copy
import io

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from avatarkit.errors import ScriptError
from avatarkit.script import parse_script

VALID = {
    "avatarkit": 1,
    "title": "Fuzz",
    "language": "en",
    "defaults": {"avatar": "face.png", "voice": "en-us-joe", "background": "studio", "resolution": "1280x720", "fps": 25},
    "scenes": [
        {"id": "one", "segments": [{"text": "Hello there, and welcome to the *first* lesson. [pause 800ms]"},
                                   {"text": "[nod] We open the mouth to speak."}]},
        {"id": "two", "layout": "pip", "background": {"kind": "gradient", "colors": ["#203040", "#4080a0"]},
         "segments": [{"pause": "600ms"}, {"text": "Thank you for watching!"}], "bullets": ["One", "Two"]},
    ],
}

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=30), st.sampled_from(["720p", "9:16", "#zzzzzz", "[pause x]", "*", "face.png",
                                                           "../face.png", "/etc/passwd", "1e9ms", "nod", "gradient"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                      max_leaves=12)
YAMLISH = st.lists(st.sampled_from(["avatarkit: 1\n", "title: t\n", "scenes:\n", "  - ", "segments:\n", "    - text: ",
                                    "hi *there* [pause 5ms]\n", "defaults: {avatar: face.png}\n", "{", "}", "[", "]",
                                    "&a ", "*a ", "!!python/object:os.system ", "---\n", ": ", "- ", "'", '"', "\t",
                                    "\n", "é", "\x00", "<<: *a\n", "? ", "|\n  ", "%YAML 1.2\n"]), max_size=40).map("".join)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


ALL_PATHS = [p for p in _paths(VALID) if p]


@st.composite
def mutated(draw):
    doc = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(ALL_PATHS))
        node = doc
        try:
            for k in path[:-1]:
                node = node[k]
            if draw(st.booleans()):
                node[path[-1]] = draw(VALUES)
            elif isinstance(node, dict):
                node.pop(path[-1], None)
        except (KeyError, IndexError, TypeError):
            pass
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


@pytest.fixture(scope="module")
def script_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    Image.new("RGB", (8, 8)).save(folder / "face.png")
    return folder / "script.yaml"


def _parse(text: str, file) -> None:
    """Parse, or raise `ScriptError` with a message; any other exception fails the test."""
    try:
        parse_script(text, file=file)
    except ScriptError as e:
        assert str(e)         # a message, and its formatting does not fail either


def test_valid_script_parses(script_file):
    script = parse_script(yaml.safe_dump(VALID), file=script_file)
    assert [s.id for s in script.scenes] == ["one", "two"]


@pytest.mark.parametrize("text", ["\x1f", "title: a\x00b\n", "? {a: 1}\n: x\n", "{[1, 2]: x}\n"])
def test_parse_control_characters_and_complex_keys(script_file, text):
    with pytest.raises(ScriptError, match="not valid YAML|plain value"):
        parse_script(text, file=script_file)


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(max_size=200), YAMLISH))
def test_parse_random_text(script_file, text):
    _parse(text, script_file)


@settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated())
def test_parse_mutated_script(script_file, text):
    _parse(text, script_file)


# ---- the API against its own OpenAPI document -----------------------------------------------------

@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from avatarkit.serve.app import create_app
    from avatarkit.serve.config import RateDefaults, ServeConfig
    from avatarkit.serve.keys import create_key
    from avatarkit.serve.store import open_store

    tmp = tmp_path_factory.mktemp("api")
    store = open_store(f"sqlite:///{tmp}/jobs.db")
    config = ServeConfig(db=f"sqlite:///{tmp}/jobs.db", data_dir=str(tmp / "jobs"), pepper="fuzz", max_upload_mb=1,
                         allowed_webhook_hosts=["hooks.example.com"],
                         rate=RateDefaults(per_s=10000, burst=10000, max_concurrent=10000))
    _, secret = create_key(store, "fuzz", ["renders:create", "renders:read", "renders:cancel"], b"fuzz")
    app = create_app(config, store=store)
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    return app, {"Authorization": f"Bearer {secret}"}


@pytest.fixture(scope="module")
def api_schema(api):
    return schemathesis.openapi.from_asgi("/openapi.json", api[0])


# schemathesis' own pytest plugin does not run under pytest 9 yet, so each operation's strategy drives hypothesis directly.
OPERATIONS = [("/v1/renders", "POST"), ("/v1/renders", "GET"), ("/v1/renders/{job_id}", "GET"),
              ("/v1/renders/{job_id}/cancel", "POST"), ("/v1/renders/{job_id}/artifacts/{name}", "GET"), ("/v1/health", "GET"),
              ("/v1/voices", "GET"), ("/v1/avatars", "GET")]


@pytest.mark.parametrize("path,method", OPERATIONS)
def test_api_conforms(api_schema, api, path, method):
    operation = api_schema[path][method]

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy())
    def check(case):
        case.call_and_validate(headers=api[1], checks=[not_a_server_error, status_code_conformance,
                                                       content_type_conformance, response_schema_conformance])

    check()
