from odebench.machine import code_version
from odebench.machine import machine_info as odebench_machine_info


def pytest_benchmark_update_machine_info(config, machine_info):
    import torch

    info = odebench_machine_info("cuda" if torch.cuda.is_available() else "cpu")
    machine_info.update({f"odebench_{k}": v for k, v in info.items()})
    machine_info["odebench_version"] = code_version()
