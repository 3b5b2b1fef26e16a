"""envs/*.yaml (conda environments per rule group, for `snakemake --sdm conda`) agree with
pyproject.toml: the same pins, every rule names one, and each environment holds every
third-party package the `lema` commands of its rules import."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
ENVS = ROOT / "envs"
RULES = ROOT / "rules"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# import name -> distribution name, where they differ
IMPORT_TO_DIST = {
    "yaml": "pyyaml",
    "math_verify": "math-verify",
    "antlr4": "antlr4-python3-runtime",
    "sklearn": "scikit-learn",
    "PIL": "pillow",
}


def _project_requirements() -> dict[str, Requirement]:
    reqs = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    for extra in PYPROJECT["project"].get("optional-dependencies", {}).values():
        reqs += [Requirement(r) for r in extra]
    out: dict[str, Requirement] = {}
    for req in reqs:
        name = canonicalize_name(req.name)
        if name in out:
            assert out[name].specifier == req.specifier, f"{name} pinned twice differently"
        out[name] = req
    return out


PROJECT = _project_requirements()
ENV_FILES = sorted(ENVS.glob("*.yaml"))


def env_pip_requirements(path: Path) -> dict[str, Requirement]:
    env = yaml.safe_load(path.read_text())
    pip: list[str] = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip += dep.get("pip", [])
    reqs = {}
    for line in pip:
        assert not line.startswith("-"), f"{path.name}: pip option {line!r}; pin packages only"
        req = Requirement(line)
        reqs[canonicalize_name(req.name)] = req
    return reqs


def env_conda_specs(path: Path) -> dict[str, str]:
    env = yaml.safe_load(path.read_text())
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            name, _, spec = dep.partition(" ")
            out[name] = spec.strip()
    return out


def test_there_is_an_env_per_rule_group():
    assert {p.stem for p in ENV_FILES} >= {"data", "generate", "train", "evaluate", "report"}


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_agree_with_pyproject(path):
    for name, req in env_pip_requirements(path).items():
        assert name in PROJECT, f"{path.name}: {req} is not a dependency in pyproject.toml"
        assert req.specifier == PROJECT[name].specifier, (
            f"{path.name}: {req} but pyproject.toml says {PROJECT[name]}"
        )
    python = env_conda_specs(path).get("python")
    assert python, f"{path.name}: no python version"
    requires = SpecifierSet(PYPROJECT["project"]["requires-python"])
    conda_python = SpecifierSet(python.replace(" ", ""))
    # the environment's lowest Python is the project's lowest
    assert "3.11" in conda_python and "3.11" in requires and "3.10" not in conda_python
    assert (ENVS / f"{path.stem}.post-deploy.sh").exists(), f"{path.name}: no post-deploy script"


def test_every_runtime_dependency_is_in_some_env():
    covered = set().union(*(env_pip_requirements(p) for p in ENV_FILES))
    runtime = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}
    # snakemake runs the workflow; it is not needed inside a job's environment
    missing = runtime - covered - {"snakemake"}
    assert not missing, f"in pyproject.toml but in no envs/*.yaml: {sorted(missing)}"


# --- rules -> environments -> imports -----------------------------------------------------

RULE_RE = re.compile(r"^[ \t]*(?:rule|checkpoint)\s+(\w+)\s*:", re.M)
CONDA_RE = re.compile(r"^\s+conda:\s*\n\s+[\"']([^\"']+)[\"']", re.M)
COMMAND_RE = re.compile(r"(?:\blema|\{params\.launcher\})\s+([a-z][a-z-]*)")


def rule_blocks() -> dict[str, tuple[Path, str]]:
    blocks = {}
    for smk in sorted(RULES.glob("*.smk")):
        text = smk.read_text()
        starts = list(RULE_RE.finditer(text))
        for i, m in enumerate(starts):
            end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
            blocks[m.group(1)] = (smk, text[m.start() : end])
    return blocks


RULE_BLOCKS = rule_blocks()
# rules that only aggregate targets and run nothing
NO_ENV_RULES = {"all"}


def test_every_rule_names_an_existing_env():
    problems = []
    for rule, (smk, block) in RULE_BLOCKS.items():
        if rule in NO_ENV_RULES or re.search(r"^\s+run:", block, re.M):
            continue
        m = CONDA_RE.search(block)
        if not m:
            problems.append(f"{smk.name}: rule {rule} has no conda: directive")
            continue
        env = (smk.parent / m.group(1)).resolve()
        if env.parent != ENVS.resolve() or not env.exists():
            problems.append(f"{smk.name}: rule {rule}: conda: {m.group(1)} is not a file in envs/")
    assert not problems, "\n".join(problems)


def _module_path(module: str) -> Path:
    path = ROOT / (module.replace(".", "/") + ".py")
    return path if path.exists() else ROOT / module.replace(".", "/") / "__init__.py"


def _command_source(target: str) -> str:
    """What one command of a module of several (``module:name``, lema.cli's table) runs: the
    module's top-level imports and the top-level functions (and aliases) reachable from
    ``add_<name>_arguments`` and ``run_<name>``. Other commands' lazy imports do not count."""
    module, _, name = target.partition(":")
    tree = ast.parse(_module_path(module).read_text())
    defs: dict[str, ast.AST] = {}
    parts: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            parts.append(ast.unparse(node))
        elif isinstance(node, ast.FunctionDef):
            defs[node.name] = node
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            defs[node.targets[0].id] = node
    todo, done = [f"add_{name}_arguments", f"run_{name}"], set()
    while todo:
        fn = todo.pop()
        if fn in done or fn not in defs:
            continue
        done.add(fn)
        parts.append(ast.unparse(defs[fn]))
        todo += [n.id for n in ast.walk(defs[fn]) if isinstance(n, ast.Name)]
    return "\n".join(parts)


def _source(module: str) -> str:
    """The source that counts for ``module`` (or ``module:name``)."""
    if ":" in module:
        return _command_source(module)
    return _module_path(module).read_text()


def _code_without_docstrings(source: str) -> str:
    """The module's code as text, docstrings and comments left out: a lema module a docstring
    only mentions is not imported (import statements, import_module and `-m lema.x` strings
    still count)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def _lema_modules_of(module: str, seen: set[str]) -> None:
    """``module`` and every lema module it names (imports, import_module, `-m lema.x`).
    lema.cli names every command's module in its table; only its own imports count. A
    ``module:name`` entry counts only what that command runs (:func:`_command_source`)."""
    if module in seen:
        return
    path = _module_path(module.partition(":")[0])
    if not path.exists():
        return
    seen.add(module)
    text = _code_without_docstrings(_source(module))
    if module == "lema.cli":
        text = "\n".join(
            ast.unparse(n)
            for n in ast.walk(ast.parse(text))
            if isinstance(n, (ast.Import, ast.ImportFrom))
        )
    for name in set(re.findall(r"\blema(?:\.[a-z_][a-z0-9_]*)+", text)):
        parts = name.split(".")
        for i in range(2, len(parts) + 1):
            _lema_modules_of(".".join(parts[:i]), seen)


def _guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """True when the import sits in a `try` that handles ImportError (an optional import)."""
    while node in parents:
        child, node = node, parents[node]
        if isinstance(node, ast.Try) and child in node.body:
            for handler in node.handlers:
                names = ast.unparse(handler.type) if handler.type else "BaseException"
                if re.search(r"ImportError|ModuleNotFoundError|Exception", names):
                    return True
    return False


def third_party_imports(module: str) -> set[str]:
    tree = ast.parse(_source(module))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            tops = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            tops = [node.module.split(".")[0]]
        else:
            continue
        if _guarded(node, parents):
            continue
        names |= {
            t for t in tops if t not in sys.stdlib_module_names and t not in {"lema", "__future__"}
        }
    return names


def _closure(dists: set[str]) -> set[str]:
    """``dists`` and everything they require (from the installed metadata; extras skipped).
    An import of a package that a pinned one depends on (e.g. openai's httpx2) is satisfied."""
    from importlib import metadata

    out, todo = set(), list(dists)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    return out


def command_modules() -> dict[str, str]:
    from lema.cli import COMMANDS

    return {name: module for name, (module, _help) in COMMANDS.items()}


def test_each_env_has_what_its_rules_import():
    commands = command_modules()
    problems = []
    for rule, (smk, block) in RULE_BLOCKS.items():
        m = CONDA_RE.search(block)
        if not m:
            continue
        env = (smk.parent / m.group(1)).resolve()
        if not env.exists():
            continue
        have = _closure(set(env_pip_requirements(env)))
        for command in set(COMMAND_RE.findall(block)):
            if command not in commands:
                problems.append(f"rule {rule}: `lema {command}` is not a lema command")
                continue
            modules: set[str] = set()
            _lema_modules_of(commands[command], modules)
            _lema_modules_of("lema.cli", modules)
            needed = set()
            for mod in modules:
                needed |= {
                    canonicalize_name(IMPORT_TO_DIST.get(n, n)) for n in third_party_imports(mod)
                }
            missing = needed - have
            if missing:
                problems.append(
                    f"rule {rule} runs `lema {command}` in envs/{env.name}, "
                    f"which lacks {sorted(missing)}"
                )
    assert not problems, "\n".join(problems)
