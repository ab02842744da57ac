"""`Session.inspect`: the stages of a compiled run, as text, for debugging and docs."""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import passes
from ..runtime.fetches import flatten_fetches
from ..runtime.program import Program


@dataclass
class Inspection:
    passes: str            # per-pass node counts, statistics and timings
    program: str           # the optimised program: kernels, views and memory plan
    stages: dict[str, str] = field(default_factory=dict)   # the backend's, in order

    @property
    def loop_ir(self) -> str | None:
        return self.stages.get("loop IR")

    def __getitem__(self, stage: str) -> str:
        """A backend stage by name ("loop IR", "LLVM IR", "C source", ...)."""
        return self.stages[stage]

    def __str__(self) -> str:
        parts = [("passes", self.passes), ("kernels", self.program)] + list(self.stages.items())
        return "\n\n".join(f"// ---- {title}\n{text}" for title, text in parts if text)


def inspect_run(session, fetches, feed_dict) -> Inspection:
    flat = list(dict.fromkeys(flatten_fetches(session.graph, fetches)))
    feeds = session._convert_feeds(feed_dict)
    program = Program.build(session.graph, flat, sorted(feeds, key=_node_id))
    shapes = {ph: value.shape for ph, value in feeds.items()}
    if hasattr(session.backend, "executable"):          # a compiling backend
        exe = session.backend.executable(program, shapes)
        return Inspection(exe.pipeline.report(), passes.describe(exe.program), exe.stages())
    result = passes.run_pipeline(program, passes.default_passes(shapes), print_after=())
    return Inspection(result.report(), passes.describe(result.program))


def _node_id(node):
    return node.id
