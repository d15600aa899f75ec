"""The attacker: run as a user's script inside the sandbox, it tries each escape named in
its first argument (comma-separated) and prints one JSON object, {attack: {"held": bool,
"detail": str}}. Standard library only. Further arguments: the host's loopback ports to
try to reach."""

import ctypes
import errno
import json
import os
import socket
import stat
import subprocess
import sys
import time

RESULTS = {}
ALLOWED_DEVICES = {"null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx",
                   "shm", "mqueue", "fd", "stdin", "stdout", "stderr", "console", "core"}


WANTED = set(sys.argv[1].split(","))


def attack(function):
    if function.__name__ not in WANTED:
        return function
    try:
        held, detail = function()
    except Exception as exc:  # an attack that could not even be tried held
        held, detail = True, f"{type(exc).__name__}: {exc}"
    RESULTS[function.__name__] = {"held": bool(held), "detail": str(detail)[:2000]}
    return function


def refused(action) -> tuple[bool, str]:
    """Held if ``action()`` raises OSError (which one is the detail)."""
    try:
        action()
    except OSError as exc:
        return True, errno.errorcode.get(exc.errno, str(exc.errno))
    return False, "allowed"


def every(*outcomes) -> tuple[bool, str]:
    return all(held for held, _ in outcomes), "; ".join(d for _, d in outcomes)


@attack
def network_to_host_loopback():
    outcomes = []
    for port in map(int, sys.argv[2:]):
        def connect(port=port):
            with socket.create_connection(("127.0.0.1", port), timeout=3):
                pass
        held, detail = refused(connect)
        outcomes.append((held, f"127.0.0.1:{port} {detail}"))
    return every(*outcomes)


@attack
def network_to_the_outside():
    def connect():
        with socket.create_connection(("1.1.1.1", 53), timeout=3):
            pass
    held, detail = refused(connect)
    interfaces = [line.split(":")[0].strip() for line in
                  open("/proc/net/dev").read().splitlines()[2:]]
    return held and set(interfaces) <= {"lo"}, f"{detail}; interfaces {interfaces}"


@attack
def process_environments():
    """What every visible process has in its environment (the test looks for secrets)."""
    pids = [name for name in os.listdir("/proc") if name.isdigit()]
    seen = []
    for pid in pids:
        try:
            seen.append(open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace"))
        except OSError:
            pass
    names = sorted({entry.split("=", 1)[0] for text in seen for entry in text.split("\0")
                    if entry})
    leaked = [name for name in names if name.startswith(("RGRID_", "PREFECT_", "AWS_",
                                                          "DOCKER_", "HCLOUD"))]
    return not leaked, json.dumps({"pids": len(pids), "names": names,
                                   "environ": "\n".join(seen)})


@attack
def mounts():
    mounts = open("/proc/self/mountinfo").read()
    root = next(line for line in mounts.splitlines() if line.split()[4] == "/")
    socket_visible = any(os.path.exists(path) for path in
                         ("/var/run/docker.sock", "/run/docker.sock"))
    held = " ro" in f" {root.split()[5]}".replace(",", " ") and not socket_visible \
        and "docker.sock" not in mounts
    return held, mounts


@attack
def writes_outside_work_and_tmp():
    outcomes = [refused(lambda path=path: open(path, "w").write("x"))
                for path in ("/probe", "/etc/probe", "/usr/probe", "/root/probe",
                             "/var/probe", "/home/probe", "/etc/passwd")]
    for path in ("/work/probe-ok", "/tmp/probe-ok"):  # the control: these must work
        open(path, "w").write("x")
        os.remove(path)
    return every(*outcomes)


@attack
def become_root():
    status = open("/proc/self/status").read()
    no_new_privileges = "NoNewPrivs:\t1" in status
    return every(refused(lambda: os.setuid(0)), refused(lambda: os.setgid(0)),
                 (os.getuid() != 0 and os.geteuid() != 0, f"uid {os.getuid()}"),
                 (no_new_privileges, "no_new_privs set" if no_new_privileges else "unset"))


@attack
def capabilities():
    status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read()
                  .splitlines() if ":\t" in line)
    effective = int(status["CapEff"], 16)
    libc = ctypes.CDLL(None, use_errno=True)

    def mount():
        os.makedirs("/tmp/m", exist_ok=True)
        if libc.mount(b"none", b"/tmp/m", b"tmpfs", 0, None) != 0:
            raise OSError(ctypes.get_errno(), "mount")

    open("/tmp/owned", "w").close()
    return every((effective == 0, f"CapEff {status['CapEff']}"),
                 refused(lambda: os.chown("/tmp/owned", 0, 0)),
                 refused(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW)),
                 refused(mount))


@attack
def fork_bomb():
    children = []
    try:
        for _ in range(5000):
            children.append(subprocess.Popen(["sleep", "60"]))
        return False, f"{len(children)} processes started"
    except OSError as exc:
        return True, f"stopped at {len(children)} processes: {exc.strerror}"
    finally:
        for child in children:
            child.kill()
        for child in children:
            child.wait()


@attack
def set_the_clock():
    return refused(lambda: time.clock_settime(time.CLOCK_REALTIME, time.time() + 3600))


@attack
def device_nodes():
    extra = sorted(set(os.listdir("/dev")) - ALLOWED_DEVICES)
    return every((not extra, f"/dev has {extra}"),
                 refused(lambda: open("/dev/mem", "rb").read(1)),
                 refused(lambda: os.mknod("/tmp/sda", stat.S_IFBLK | 0o600,
                                          os.makedev(8, 0))))


@attack
def hardlink_to_a_system_file():
    return refused(lambda: os.link("/etc/shadow", "/tmp/shadow-link"))


@attack
def see_other_processes():
    """Only this container's processes are visible (its own pid namespace)."""
    visible = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    return len(visible) < 10, f"{len(visible)} processes visible: {visible[:20]}"


for name in os.listdir("/work"):  # what an attack left is not an output
    if name != "probe.py":
        os.remove(os.path.join("/work", name))
print(json.dumps(RESULTS))
