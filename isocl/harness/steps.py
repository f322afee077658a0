"""The two kinds of event a run performs, and the evaluation after each."""

import time

import torch
from torch import nn

from isocl.cl.removal import remove_experience
from isocl.data import Stream
from isocl.harness.build import param_count


def train_step(strategy, stream: Stream, experience: int | None) -> float:
    """Train one experience (None: the whole stream at once, joint training); returns the seconds it took."""
    benchmark = stream.benchmark
    start = time.perf_counter()
    strategy.train(benchmark.train_stream if experience is None else benchmark.train_stream[experience], num_workers=0)
    return time.perf_counter() - start


def remove_step(strategy, stream: Stream, experience: int, slot: int) -> tuple[dict, dict]:
    """Withdraw a trained experience; returns the model's size just before and just after."""
    before = model_size(strategy.model)
    remove_experience(strategy, experience, stream.experiences[experience].classes, slot)
    return before, model_size(strategy.model)


def model_size(model) -> dict:
    return {"widths": model.backbone.sizes, "params": param_count(model)}


@torch.no_grad()
def evaluate(model: nn.Module, stream: Stream, batch_size: int, device: str) -> list[float]:
    """Test accuracy on every experience of the stream, in [0, 1]."""
    model.eval()
    row = []
    for exp in stream.experiences:
        correct = 0
        for start in range(0, len(exp.test_y), batch_size):
            x = exp.test_x[start : start + batch_size].to(device)
            y = exp.test_y[start : start + batch_size].to(device)
            correct += int((model.logits(x, exp.task_label).argmax(1) == y).sum())
        row.append(correct / len(exp.test_y))
    model.train()
    return row
