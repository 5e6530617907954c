#!/usr/bin/env python3
"""The README's deploy commands, exactly as written, in a clean shell.

README.md marks the commands a newcomer runs to build and deploy between
`<!-- readme-build:begin -->` and `<!-- readme-build:end -->` (one fenced block). This test
takes that block's text (not a copy of it), drops the `sam deploy` lines (they need an AWS
account; it prints each one it skips), and runs the rest, in order, in the repository root,
in `bash -euo pipefail -c` with a clean environment: HOME, and a PATH of
/usr/local/bin:/usr/bin:/bin plus rustup's bin directory (where cargo lives), nothing else
of this shell's: no .venv on PATH, no AWS credentials, no VIRTUAL_ENV. So a tool that the
block's set-up does not install or put on PATH fails the test ("sam: command not found").

What the clean shell does get besides (printed before the run):
- how this machine reaches package indexes and where rustup lives, if set (PIP_*, proxy and
  CA-bundle variables, CARGO_HOME, RUSTUP_HOME, LANG): the machine's set-up, not the project's;
- SAM_CLI_TELEMETRY=0 (tests send no telemetry);
- build tuning that changes no tool and no credential: CARGO_TARGET_DIR=target/sam-arm64
  (the release cross-build stays apart from the other steps' debug builds in target/; SAM
  finds the binaries through `cargo metadata`, which follows it), and unless
  SAM_BUILD_LTO=fat, CARGO_PROFILE_RELEASE_LTO=off and CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
  (the release profile's fat LTO links took half of the build's CPU time; SAM_BUILD_LTO=fat
  builds exactly what `sam build` deploys).

Then it checks that .aws-sam/build/{IngestFunction,WorkerFunction,StatusFunction}/bootstrap
were written by this run, are ELF executables for the architecture `sam deploy` declares
(samconfig.toml's default parameter_overrides, else the template's default), and carry no
fault injection code.

    tests/readme_build.py [README]             default: README.md of this repository
    tests/readme_build.py --check-only DIR ARCH   only the bootstrap checks, on DIR/<Fn>/bootstrap
                                                  (ARCH: arm64 or x86_64; scripts/test's other
                                                  architectures use it)

Prints `N passed, M failed` and exits non-zero on failure.
"""

import os
import re
import shlex
import struct
import subprocess
import sys
import time
import tomllib
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- readme-build:begin -->"
END = "<!-- readme-build:end -->"
FUNCTIONS = ("IngestFunction", "WorkerFunction", "StatusFunction")
# ELF e_machine values (System V ABI): the architectures Lambda runs.
MACHINES = {183: "arm64", 62: "x86_64"}
# Strings of the `faults` feature's code (issue 14): its init log line and variable names.
FAULT_MARKERS = (b"fault injection is ON", b"FAULT_FAILURE_RATE")
# Variables describing the machine rather than the project, passed through when set.
MACHINE_VARS = re.compile(
    r"^(PIP_\w+|(?i:https?_proxy|no_proxy|all_proxy)|SSL_CERT_FILE|SSL_CERT_DIR|"
    r"REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|CARGO_HOME|RUSTUP_HOME|LANG|LC_ALL|TMPDIR)$"
)
RESULTS = {"passed": 0, "failed": 0}


def check(name, condition, detail=""):
    RESULTS["passed" if condition else "failed"] += 1
    print(f"{'ok  ' if condition else 'FAIL'} {name}{'' if condition else ': ' + str(detail)}", flush=True)
    return condition


def readme_block(readme):
    """The lines of the one fenced block between the markers; raises ValueError if absent."""
    text = readme.read_text()
    # A marker is a line of its own (the README may name the markers in its prose).
    lines = text.splitlines()
    begins = [i for i, line in enumerate(lines) if line.strip() == BEGIN]
    ends = [i for i, line in enumerate(lines) if line.strip() == END]
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise ValueError(
            f"{readme} must hold exactly one {BEGIN} ... {END} pair, each on a line of its own, "
            f"around the deploy section's commands (found {len(begins)} begin and {len(ends)} end markers)"
        )
    inner = "\n".join(lines[begins[0] + 1 : ends[0]])
    match = re.search(r"^```[a-z]*\n(.*?)^```$", inner, re.S | re.M)
    if not match:
        raise ValueError(f"{readme}: no fenced code block between {BEGIN} and {END}")
    # Join backslash continuations, so one command is one line.
    return match.group(1).replace("\\\n", " ").splitlines()


def split_block(lines):
    """(lines to run, sam deploy lines skipped); raises ValueError on a line it cannot run."""
    run, skipped = [], []
    for line in lines:
        command = line.split("#", 1)[0].strip()
        if not command:
            continue
        if command.startswith("sam deploy"):
            skipped.append(line.strip())
        elif "sam deploy" in command:
            raise ValueError(
                f"the line `{line.strip()}` mixes `sam deploy` with other commands: this test runs "
                "everything but `sam deploy` (no AWS account here), so put `sam deploy` on a line of its own"
            )
        else:
            run.append(line.rstrip())
    if not any(line.lstrip().startswith("sam build") for line in run):
        raise ValueError("the block has no `sam build` line")
    if not skipped:
        raise ValueError("the block has no `sam deploy` line: is it the deploy section's block?")
    return run, skipped


def clean_env():
    home = os.environ["HOME"]
    cargo_bin = os.path.join(os.environ.get("CARGO_HOME", os.path.join(home, ".cargo")), "bin")
    env = {"HOME": home, "PATH": f"/usr/local/bin:/usr/bin:/bin:{cargo_bin}"}
    env.update({k: v for k, v in os.environ.items() if MACHINE_VARS.match(k)})
    env["SAM_CLI_TELEMETRY"] = "0"
    env["CARGO_TARGET_DIR"] = str(ROOT / "target" / "sam-arm64")
    if os.environ.get("SAM_BUILD_LTO", "off") != "fat":
        env["CARGO_PROFILE_RELEASE_LTO"] = "off"
        env["CARGO_PROFILE_RELEASE_CODEGEN_UNITS"] = "16"
    # What the test promises: nothing of the project's set-up leaks in from this shell.
    assert not [k for k in env if k.startswith("AWS_") or k == "VIRTUAL_ENV"], env
    assert ".venv" not in env["PATH"], env["PATH"]
    return env


def script_of(lines):
    """A bash script that echoes each README line, runs it, and prints its seconds."""
    out = []
    for line in lines:
        out.append(f"echo {shlex.quote('readme$ ' + line.strip())}")
        out.append("readme_build_start=$SECONDS")
        out.append(line)
        out.append('echo "readme: $((SECONDS - readme_build_start)) s"')
    return "\n".join(out) + "\n"


def deploy_architecture():
    """The Architecture `sam deploy` declares: samconfig.toml's default, else the template's."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    overrides = config.get("default", {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
    if isinstance(overrides, list):  # SAM also takes a list of Key=Value strings
        overrides = " ".join(overrides)
    match = re.search(r"(?:^|\s)Architecture=(\S+)", overrides)
    if match:
        return match.group(1), "samconfig.toml [default.deploy.parameters]"
    template = (ROOT / "template.yaml").read_text()
    match = re.search(r"^  Architecture:\n(?:    .*\n)*?    Default: (\S+)$", template, re.M)
    return match.group(1), "template.yaml's default"


def check_bootstraps(build_dir, arch, newer_than=None):
    """Each function's bootstrap under build_dir: present, fresh, an ELF for arch, no faults code."""
    for fn in FUNCTIONS:
        path = Path(build_dir) / fn / "bootstrap"
        if not check(f"{path} exists", path.is_file(), "sam build did not write it"):
            continue
        if newer_than is not None:
            check(f"{path} was written by this run", path.stat().st_mtime >= newer_than,
                  f"modified {time.ctime(path.stat().st_mtime)}, before the build started")
        data = path.read_bytes()
        if not check(f"{path} is a 64-bit little-endian ELF", data[:6] == b"\x7fELF\x02\x01", data[:6]):
            continue
        machine = MACHINES.get(struct.unpack("<H", data[18:20])[0], f"e_machine {struct.unpack('<H', data[18:20])[0]}")
        check(f"{path} is {arch} code", machine == arch, f"it is {machine}")
        found = [m.decode() for m in FAULT_MARKERS if m in data]
        check(f"{path} carries no fault injection code", not found, f"it contains {found}")


def summary(name):
    print(f"{name}: {RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0


def main(argv):
    if argv[:1] == ["--check-only"]:
        if len(argv) != 3 or argv[2] not in MACHINES.values():
            print("usage: tests/readme_build.py --check-only DIR arm64|x86_64", file=sys.stderr)
            return 2
        check_bootstraps(argv[1], argv[2])
        return summary("bootstrap checks")
    if len(argv) > 1:
        print("usage: tests/readme_build.py [README]", file=sys.stderr)
        return 2
    readme = Path(argv[0]) if argv else ROOT / "README.md"

    try:
        run, skipped = split_block(readme_block(readme))
    except ValueError as e:
        check("the README's deploy block is marked and runnable", False, e)
        return summary("readme-build")
    for line in skipped:
        print(f"skipped (needs an AWS account, which this test does not have): {line}")

    env = clean_env()
    print("clean shell: bash -euo pipefail -c, in", ROOT)
    for key in sorted(env):
        print(f"  {key}={env[key]}")
    arch, source = deploy_architecture()
    print(f"expecting {arch} binaries (the Architecture of {source})", flush=True)

    started = time.time()
    proc = subprocess.Popen(
        ["/bin/bash", "-euo", "pipefail", "-c", script_of(run)],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    tail = deque(maxlen=40)
    for line in proc.stdout:
        print(line, end="", flush=True)
        tail.append(line)
    code = proc.wait()
    print(f"readme-build: the block took {time.time() - started:.0f} s")
    not_found = [line.strip() for line in tail if "command not found" in line]
    hint = f" (the block's set-up does not put this on PATH: {not_found})" if not_found else ""
    if not check("the README's commands run in a clean shell", code == 0, f"exit {code}{hint}"):
        return summary("readme-build")
    check_bootstraps(ROOT / ".aws-sam" / "build", arch, newer_than=started - 1)
    return summary("readme-build")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
