"""Whole-step CUDA graphs: a training step (forward, loss, backward, optimizer step) recorded
once and replayed for every later batch of the same shape.

Why: at the report's batch size (32) a GPU step of VGG-16 or ResNet-50 is bound by kernel
launches, not arithmetic (bench/results/gpu_step_variants.json); a replay launches the whole
step at once. bench/gpu_s2_paper.py measures what it buys and checks that a graphed run
computes what the eager one does.

What it keeps exact: the steps before capture are ordinary eager steps of the same training
(not throw-away warm-ups), capture records without computing, and the captured batch is then
replayed, so every batch is trained on exactly once. A batch of another shape (an epoch's short
last batch) runs eagerly on the same weights and optimizer state. The learning rate is baked
into the graph, so the caller captures only once it stops changing (after warm-up).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Step = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""One training step on a batch (x, y), returning (outputs, loss)."""

EAGER_STEPS_BEFORE_CAPTURE = 3
"""Steps run eagerly on a side stream first, as torch's whole-network capture recipe asks:
they create the optimizer state and let cuDNN and cuBLAS pick their kernels."""


class GraphedStep:
    """`step` run eagerly until it may be captured, then replayed from a CUDA graph."""

    def __init__(self, step: Step, optimizer: torch.optim.Optimizer) -> None:
        self.step, self.optimizer = step, optimizer
        self.eager_steps = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: tuple[torch.Tensor, torch.Tensor] | None = None
        self.outputs: tuple[torch.Tensor, torch.Tensor] | None = None

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, *, capturable: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The step's (outputs, loss) for this batch. Replayed outputs live in the graph's
        static memory: read them before the next call."""
        if self.graph is not None and x.shape == self.static[0].shape:
            self.static[0].copy_(x)
            self.static[1].copy_(y)
            self.graph.replay()
            return self.outputs
        if self.graph is not None or not capturable:
            return self.step(x, y)
        if self.eager_steps < EAGER_STEPS_BEFORE_CAPTURE:
            self.eager_steps += 1
            return self._on_side_stream(x, y)
        return self._capture(x, y)

    def _on_side_stream(
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            outputs = self.step(x, y)
        torch.cuda.current_stream().wait_stream(side)
        return outputs

    def _capture(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.static = (x.clone(), y.clone())
        # Gradients allocated inside the capture live in the graph's pool and are rewritten,
        # not accumulated, by every replay.
        self.optimizer.zero_grad(set_to_none=True)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.outputs = self.step(*self.static)
        self.graph.replay()  # capturing computed nothing: this replay is this batch's step
        return self.outputs
