import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny tensors: thread start-up and contention on a shared machine cost more than they save
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
