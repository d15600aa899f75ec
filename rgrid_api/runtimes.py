"""The runtime catalogue: short names (``python3.11``) → image and interpreter."""

from __future__ import annotations

from dataclasses import dataclass

from rgrid_common.errors import InvalidInput

_INTERPRETERS = {"python": ["python3", "-u"], "node": ["node"]}
_EXTENSIONS = {"python": [".py"], "node": [".js", ".mjs", ".cjs"]}


@dataclass(frozen=True)
class Runtime:
    name: str
    image: str

    @property
    def family(self) -> str:
        return "python" if self.name.startswith("python") else "node"

    @property
    def extensions(self) -> list[str]:
        return _EXTENSIONS.get(self.family, [])

    def command(self, script_path: str, args: list[str]) -> list[str]:
        return [*_INTERPRETERS[self.family], script_path, *args]


class RuntimeCatalogue:
    def __init__(self, images: dict[str, str], default: str) -> None:
        self._runtimes = {name: Runtime(name, image) for name, image in images.items()}
        self.default = default

    def all(self) -> list[Runtime]:
        return list(self._runtimes.values())

    def resolve(self, name: str | None, script_name: str) -> Runtime:
        if name:
            return self._by_name(name)
        return self._by_extension(script_name)

    def _by_name(self, name: str) -> Runtime:
        try:
            return self._runtimes[name]
        except KeyError:
            known = ", ".join(sorted(self._runtimes))
            raise InvalidInput(f"Unknown runtime: {name!r}.",
                               f"Use one of: {known} (see `rgrid runtimes`).") from None

    def _by_extension(self, script_name: str) -> Runtime:
        suffix = "." + script_name.rsplit(".", 1)[-1].lower() if "." in script_name else ""
        candidates = [r for r in self._runtimes.values() if suffix in r.extensions]
        if not candidates:
            raise InvalidInput(f"Cannot tell the runtime of {script_name!r} from its extension.",
                               "Pass --runtime NAME (see `rgrid runtimes`).")
        preferred = [r for r in candidates if r.name == self.default]
        return (preferred or candidates)[0]
