import pytest
import torch


@pytest.fixture
def float64():
    """Invariance tests run in float64 with TF32 off, so that 'exact' means rounding-level."""
    old_dtype = torch.get_default_dtype()
    old_tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.set_default_dtype(torch.float64)
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.set_default_dtype(old_dtype)
    torch.backends.cuda.matmul.allow_tf32 = old_tf32
