"""What /proc says about a daemon the benchmarks started: its CPU time and peak RSS."""

import os

TICK = os.sysconf("SC_CLK_TCK")


def cpu_times(pid):
    """(user, system) CPU seconds of a process so far, all its threads."""
    with open(f"/proc/{pid}/stat") as stat:
        text = stat.read()
    fields = text[text.rindex(")") + 2:].split()   # the name in parentheses may hold spaces
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def cpu_seconds(pid):
    """User + system CPU seconds of a process so far."""
    return sum(cpu_times(pid))


def vm_hwm_mib(pid):
    """Peak RSS (VmHWM) of a process in MiB, to 0.1; None if /proc does not say."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def reset_hwm(pid):
    """Reset the peak RSS to the current RSS (Linux >= 4.0); False if not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False
