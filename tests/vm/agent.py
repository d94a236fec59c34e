"""The test VM's agent: runs one command for the host and answers with its result.

Started by systemd in the guest for each connection (cosid-agent.socket, Accept=yes) with the
connection as stdin and stdout. The host sends one JSON line, `{"argv": [...], "input": "...",
"timeout": seconds}`, and reads one JSON line back, `{"returncode": n, "stdout": "...",
"stderr": "..."}`. It lets the tests look at the guest's kernel (`ip -j link`,
/proc/modules, `findmnt`) without going through cosid. Standard library only: it runs on the
guest's system Python, outside the checkout's virtualenv.
"""

import json
import subprocess
import sys


def main() -> None:
    request = json.loads(sys.stdin.readline())
    try:
        done = subprocess.run(
            request["argv"],
            input=request.get("input"),
            capture_output=True,
            text=True,
            timeout=request.get("timeout", 60),
        )
        answer = {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
    except (OSError, subprocess.TimeoutExpired) as error:
        answer = {"returncode": -1, "stdout": "", "stderr": str(error)}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
