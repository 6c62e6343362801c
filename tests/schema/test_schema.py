# SPDX-License-Identifier: Apache-2.0
"""schemas/pod.schema.json against the C validator (podctl validate).

(a) every manifest in manifests/, examples/, the test corpus and the shared
    conformance examples gets the same accept/reject verdict from podctl and
    from jsonschema with our schema (a file the strict Python loader refuses
    counts as "reject"); the cases JSON Schema cannot express are listed in
    tests/data/schema-limits.txt and must be rejected by podctl and accepted
    by the schema, so that list cannot go stale;
(b) every manifest podd accepts is a valid Kubernetes Pod under the upstream
    strict schema (../shared/conformance/k8s/pod-v1.strict.json);
(c) each conformance example gets the verdict kept in
    tests/data/conformance-expected.txt;
(d) the schema is a valid draft 2020-12 schema.
"""
import json
import os
import re
import resource
import signal
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from yaml.constructor import ConstructorError
from yaml.events import (AliasEvent, MappingEndEvent, MappingStartEvent, ScalarEvent,
                         SequenceEndEvent, SequenceStartEvent)
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

SRCDIR = Path(os.environ.get("PODD_SRCDIR") or Path(__file__).resolve().parents[2])
BUILDDIR = Path(os.environ.get("PODD_BUILDDIR") or SRCDIR)
SHARED = Path(os.environ.get("PODD_SHARED_DIR") or SRCDIR.parent / "shared")
PODCTL = BUILDDIR / "podctl"
SCHEMA_PATH = SRCDIR / "schemas" / "pod.schema.json"
K8S_SCHEMA_PATH = SHARED / "conformance" / "k8s" / "pod-v1.strict.json"
EXAMPLES_DIR = SHARED / "conformance" / "k8s-examples"
LIMITS_PATH = SRCDIR / "tests" / "data" / "schema-limits.txt"
CONFORMANCE_PATH = SRCDIR / "tests" / "data" / "conformance-expected.txt"

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
ALIAS_BUDGET = 10000
SUFFIXES = (".yaml", ".yml", ".json")
# podctl must stay cheap even on hostile input (billion laughs, deep nesting). The kernel
# bounds its CPU time (not the wall clock, which a busy machine stretches): a parser that
# expands aliases or recurses without limit runs into SIGXCPU instead of an answer.
CPU_LIMIT_S = 10


# ---- a loader with podd's rules ------------------------------------------------------


class Refused(Exception):
    """The file is not a manifest podd could accept, whatever the schema says."""


def _node_cost(node, limit):
    """Nodes an alias to node expands to, counted as manifest-tree.c does."""
    cost = 1
    if isinstance(node, MappingNode):
        for _, value in node.value:
            if cost > limit:
                break
            cost += 1 + _node_cost(value, limit)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            if cost > limit:
                break
            cost += _node_cost(item, limit)
    return cost


def _parse_int(text):
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits.startswith("0x"):
        return sign * int(digits[2:], 16)
    if digits.startswith("0o"):
        return sign * int(digits[2:], 8)
    if len(digits) > 1 and digits.startswith("0"):
        # YAML 1.1 (Kubernetes) reads it as octal, YAML 1.2 as decimal: podd refuses it.
        raise Refused(f"ambiguous integer {text!r} with a leading zero")
    return sign * int(digits, 10)


def _parse_float(text):
    low = text.lower()
    if low.endswith(".inf"):
        return float("-inf") if low.startswith("-") else float("inf")
    if low == ".nan":
        return float("nan")
    return float(text)


class StrictLoader(yaml.SafeLoader):
    """YAML 1.2 core scalars, no merge keys, duplicate keys refused, at most
    64 nested collections, at most 10000 nodes of alias expansion per file,
    alias cycles refused, redefined anchors allowed (the later one wins)."""

    yaml_implicit_resolvers = {}

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._open = set()
        self._budget = ALIAS_BUDGET

    def compose_node(self, parent, index):
        if self.check_event(AliasEvent):
            event = self.get_event()
            node = self.anchors.get(event.anchor)
            if node is None:
                raise Refused(f"alias *{event.anchor} names no anchor")
            if id(node) in self._open:
                raise Refused(f"alias *{event.anchor} is a cycle")
            self._budget -= _node_cost(node, self._budget)
            if self._budget < 0:
                raise Refused("alias expansion past the budget")
            return node
        event = self.peek_event()
        self.descend_resolver(parent, index)
        if self.check_event(ScalarEvent):
            node = self.compose_scalar_node(event.anchor)
        elif self.check_event(SequenceStartEvent):
            node = self._compose_collection(event, SequenceNode)
        elif self.check_event(MappingStartEvent):
            node = self._compose_collection(event, MappingNode)
        else:
            raise Refused(f"unexpected event {event}")
        self.ascend_resolver()
        return node

    def _compose_collection(self, start, cls):
        if self._depth >= MAX_DEPTH:
            raise Refused("nesting deeper than 64")
        self.get_event()
        kind = "seq" if cls is SequenceNode else "map"
        tag = start.tag
        if tag is None or tag == "!":
            tag = self.resolve(cls, None, start.implicit)
        node = cls(tag, [], start.start_mark, None, flow_style=start.flow_style)
        if start.anchor is not None:
            self.anchors[start.anchor] = node
        self._depth += 1
        self._open.add(id(node))
        if kind == "seq":
            index = 0
            while not self.check_event(SequenceEndEvent):
                node.value.append(self.compose_node(node, index))
                index += 1
        else:
            keys = set()
            while not self.check_event(MappingEndEvent):
                key = self.compose_node(node, None)
                if not isinstance(key, ScalarNode):
                    raise Refused("a mapping key that is not a scalar")
                if key.value == "" and key.style is None and key.tag != "tag:yaml.org,2002:str":
                    raise Refused("empty mapping key")
                if key.value in keys:
                    raise Refused(f"duplicate key {key.value!r}")
                keys.add(key.value)
                node.value.append((key, self.compose_node(node, key)))
        self._open.discard(id(node))
        self._depth -= 1
        end = self.get_event()
        node.end_mark = end.end_mark
        return node

    def construct_mapping(self, node, deep=False):
        if not isinstance(node, MappingNode):
            raise ConstructorError(None, None, "expected a mapping", node.start_mark)
        # Keys are their text, as in podd: "true: x" has the key "true".
        return {k.value: self.construct_object(v, deep=deep) for k, v in node.value}

    def construct_yaml_str(self, node):
        value = super().construct_yaml_str(node)
        if "\0" in value:
            raise Refused("NUL character in a string")
        if any("\ud800" <= ch <= "\udfff" for ch in value):
            raise Refused("an escaped UTF-16 surrogate is not a character (libyaml refuses it)")
        return value

    def construct_yaml_int(self, node):
        return _parse_int(node.value)

    def construct_yaml_float(self, node):
        return _parse_float(node.value)

    def construct_yaml_bool(self, node):
        return node.value in ("true", "True", "TRUE")

    def construct_refused(self, node):
        raise Refused(f"unsupported YAML tag {node.tag}")


_DIGIT_FIRST = list("0123456789-+.")
StrictLoader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"),
                                   ["~", "n", "N", ""])
StrictLoader.add_implicit_resolver("tag:yaml.org,2002:bool",
                                   re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
StrictLoader.add_implicit_resolver("tag:yaml.org,2002:int",
                                   re.compile(r"^[-+]?(?:0x[0-9a-fA-F]+|0o[0-7]+|[0-9]+)$"), _DIGIT_FIRST)
StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), _DIGIT_FIRST)
StrictLoader.add_constructor("tag:yaml.org,2002:str", StrictLoader.construct_yaml_str)
StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)
StrictLoader.add_constructor("tag:yaml.org,2002:float", StrictLoader.construct_yaml_float)
StrictLoader.add_constructor("tag:yaml.org,2002:bool", StrictLoader.construct_yaml_bool)
for _tag in ("binary", "timestamp", "set", "omap", "pairs", "merge", "value"):
    StrictLoader.add_constructor("tag:yaml.org,2002:" + _tag, StrictLoader.construct_refused)


def _reject_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise Refused("duplicate JSON key")
    return dict(pairs)


def _reject_constant(name):
    raise Refused(f"{name} is not JSON")


_JSON_SURROGATE_PAIR = re.compile(r"(?<!\\)((?:\\\\)*)\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})")


def _join_surrogate_pair(m):
    high, low = int(m.group(2), 16), int(m.group(3), 16)
    return m.group(1) + chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))


def load_documents(path):
    """The documents of a manifest file, or Refused."""
    data = Path(path).read_bytes()
    if len(data) > MAX_BYTES:
        raise Refused("larger than 1 MiB")
    if b"\0" in data:
        raise Refused("NUL byte")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Refused(f"invalid UTF-8: {e}") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if str(path).endswith(".json"):
        try:
            json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
        except ValueError as e:
            raise Refused(f"JSON: {e}") from None
        # podd joins escaped surrogate pairs ("\\ud83d\\ude80") before libyaml reads the text.
        text = _JSON_SURROGATE_PAIR.sub(_join_surrogate_pair, text)
    loader = StrictLoader(text)
    docs = []
    try:
        while loader.check_node():
            node = loader.get_node()
            # An empty document (a trailing "---") is skipped, as kubectl and podd do.
            if (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"
                    and node.value == ""):
                continue
            docs.append(loader.construct_document(node))
    except (yaml.YAMLError, RecursionError) as e:
        raise Refused(f"YAML: {e}") from None
    finally:
        loader.dispose()
    if not docs:
        raise Refused("no document")
    return docs


# ---- verdicts ------------------------------------------------------------------------------


def _schema(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


POD_SCHEMA = _schema(SCHEMA_PATH)
POD_VALIDATOR = jsonschema.Draft202012Validator(POD_SCHEMA)


def schema_errors(path):
    """Why the schema (or the loader) rejects the file; [] when it accepts it."""
    try:
        docs = load_documents(path)
    except Refused as e:
        return [f"loader: {e}"]
    errors = []
    for i, doc in enumerate(docs):
        for err in POD_VALIDATOR.iter_errors(doc):
            where = "/".join(str(p) for p in err.absolute_path)
            errors.append(f"document {i}: {where}: {err.message[:300]}")
    return errors


def podctl_validate(path):
    def limit_cpu():
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT_S, CPU_LIMIT_S))

    proc = subprocess.run([str(PODCTL), "validate", "-o", "json", "-f", str(path)],
                          capture_output=True, text=True, timeout=120, preexec_fn=limit_cpu)
    assert proc.returncode != -signal.SIGXCPU, f"podctl used {CPU_LIMIT_S} s of CPU on {path}"
    assert proc.returncode in (0, 1), f"podctl exit {proc.returncode}: {proc.stderr}"
    result = json.loads(proc.stdout)
    assert result["valid"] == (proc.returncode == 0)
    return result


def c_errors(result):
    out = []
    for f in result["files"]:
        if "error" in f:
            out.append({"path": "", "message": f["error"]["message"]})
        for d in f.get("documents", []):
            out.extend(x for x in d["diagnostics"] if x["level"] == "error")
    return out


# ---- the files -------------------------------------------------------------------------------


def _manifests_under(top):
    if not top.is_dir():
        return []
    return sorted(p for p in top.rglob("*")
                  if p.is_file() and p.name.endswith(SUFFIXES)
                  and not any(part.startswith(".") for part in p.relative_to(top).parts))


def _repo_files():
    files = _manifests_under(SRCDIR / "manifests") + _manifests_under(SRCDIR / "examples")
    corpus = SRCDIR / "tests" / "data" / "manifests"
    for kind in ("valid", "invalid"):
        if (corpus / kind).is_dir():
            for case in sorted((corpus / kind).iterdir()):
                files.extend(sorted(p for p in case.iterdir() if p.name.startswith("pod.")
                                    and p.name.endswith(SUFFIXES)))
    return files


def _params():
    params = [pytest.param(p, id=str(p.relative_to(SRCDIR))) for p in _repo_files()]
    if EXAMPLES_DIR.is_dir():
        params += [pytest.param(p, id="shared/" + str(p.relative_to(SHARED)))
                   for p in _manifests_under(EXAMPLES_DIR)]
    else:
        params.append(pytest.param(None, id="shared-conformance-examples",
                                   marks=pytest.mark.skip(reason=f"{EXAMPLES_DIR} is absent")))
    return params


def _read_table(path):
    """Non-comment lines of a table file, split into (first word, rest)."""
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, rest = line.partition(" ")
        assert key not in rows, f"{path.name}: {key} listed twice"
        rows[key] = rest.strip()
    return rows


SCHEMA_LIMITS = _read_table(LIMITS_PATH)
PARAMS = _params()


def _rel(path):
    try:
        return str(path.relative_to(SRCDIR))
    except ValueError:
        return "shared/" + str(path.relative_to(SHARED))


@pytest.fixture(scope="module", autouse=True)
def _podctl_built():
    if not PODCTL.exists():
        pytest.skip(f"{PODCTL} is not built")


# ---- (a) the same verdict --------------------------------------------------------------------


@pytest.mark.parametrize("path", PARAMS)
def test_same_verdict(path):
    result = podctl_validate(path)
    c_accepts = result["valid"]
    s_errors = schema_errors(path)
    rel = _rel(path)
    if rel in SCHEMA_LIMITS:
        assert not c_accepts, f"{rel} is in schema-limits.txt but podctl accepts it"
        assert not s_errors, (f"{rel} is in schema-limits.txt but the schema rejects it:\n"
                              + "\n".join(s_errors))
        return
    if c_accepts:
        assert not s_errors, "podctl accepts, the schema rejects:\n" + "\n".join(s_errors)
    else:
        assert s_errors, ("podctl rejects, the schema accepts; podctl says:\n"
                          + "\n".join(f"{e['path']}: {e['message']}" for e in c_errors(result)))


def test_schema_limits_are_corpus_files():
    for rel, reason in SCHEMA_LIMITS.items():
        assert (SRCDIR / rel).is_file(), f"schema-limits.txt names a missing file {rel}"
        assert reason, f"schema-limits.txt: {rel} gives no reason"


# ---- (b) accepted manifests are Kubernetes Pods -----------------------------------------------


@pytest.fixture(scope="module")
def k8s_validator():
    if not K8S_SCHEMA_PATH.is_file():
        pytest.skip(f"{K8S_SCHEMA_PATH} is absent")
    return jsonschema.Draft4Validator(_schema(K8S_SCHEMA_PATH))


def _accepted_params():
    """Files meant to be accepted: all but the invalid corpus, and of the
    conformance examples those conformance-expected.txt says podd accepts."""
    accepted = set()
    if CONFORMANCE_PATH.is_file():
        accepted = {rel for rel, v in _read_table(CONFORMANCE_PATH).items() if v == "accept"}
    params = []
    for param in PARAMS:
        path = param.values[0]
        if path is None:
            params.append(param)
        elif EXAMPLES_DIR in path.parents:
            if str(path.relative_to(EXAMPLES_DIR)) in accepted:
                params.append(param)
        elif "invalid" not in path.relative_to(SRCDIR).parts[:4]:
            params.append(param)
    return params


@pytest.mark.parametrize("path", _accepted_params())
def test_accepted_is_kubernetes_pod(path, k8s_validator):
    if not podctl_validate(path)["valid"]:
        pytest.skip("podd rejects it")
    errors = []
    for i, doc in enumerate(load_documents(path)):
        pods = doc["items"] if doc.get("kind") == "List" else [doc]
        for j, pod in enumerate(pods):
            for err in k8s_validator.iter_errors(pod):
                where = "/".join(str(p) for p in err.absolute_path)
                errors.append(f"document {i} item {j}: {where}: {err.message[:300]}")
    assert not errors, "podd accepts what Kubernetes rejects:\n" + "\n".join(errors)


# ---- (c) the conformance examples ----------------------------------------------------------------


def _conformance_params():
    if not EXAMPLES_DIR.is_dir():
        return [pytest.param(None, None, id="conformance",
                             marks=pytest.mark.skip(reason=f"{EXAMPLES_DIR} is absent"))]
    table = _read_table(CONFORMANCE_PATH)
    files = {str(p.relative_to(EXAMPLES_DIR)) for p in _manifests_under(EXAMPLES_DIR)}
    params = [pytest.param(rel, table.get(rel), id=rel) for rel in sorted(files | set(table))]
    return params


@pytest.mark.parametrize("rel,expected", _conformance_params())
def test_conformance_expectation(rel, expected):
    path = EXAMPLES_DIR / rel
    assert path.is_file(), f"conformance-expected.txt lists {rel}, which is not in {EXAMPLES_DIR}"
    assert expected, f"{rel} has no line in conformance-expected.txt"
    verdict, _, field = expected.partition(" ")
    result = podctl_validate(path)
    errors = c_errors(result)
    if verdict == "accept":
        assert result["valid"], "expected accept; podctl says:\n" + "\n".join(
            f"{e['path']}: {e['message']}" for e in errors)
        return
    assert verdict == "reject" and field, f"bad expectation {expected!r}"
    assert not result["valid"], "expected reject, podctl accepts"
    assert any(e["path"] == field for e in errors), (
        f"no error names {field}; podctl says:\n"
        + "\n".join(f"{e['path']}: {e['message']}" for e in errors))
    # Rejected only for fields podd does not support, or for the named path.
    others = [e for e in errors if e["path"] != field and "not supported" not in e["message"]]
    assert not others, "other errors:\n" + "\n".join(f"{e['path']}: {e['message']}" for e in others)


# ---- (d) the schema itself ----------------------------------------------------------------------


def test_schema_is_valid_2020_12():
    assert POD_SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert POD_SCHEMA.get("$id")
    jsonschema.Draft202012Validator.check_schema(POD_SCHEMA)
