# Before numpy and torch load (conftest imports them), as `dlrepro` does for a stage: the tests
# compute under the numeric contract's default level.
from dlrepro import numerics
from dlrepro.config import ComputeConfig

numerics.apply(ComputeConfig().cpu_isa)
