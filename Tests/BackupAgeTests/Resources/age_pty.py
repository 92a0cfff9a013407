#!/usr/bin/env python3
# Runs age on a pseudo-terminal and answers its passphrase prompts (age reads passphrases only from a
# terminal). Used by the interop tests.
import os, pty, sys, select, time
# usage: pty_age.py PASSPHRASE age-args...   (answers every passphrase prompt of age on its terminal)
passphrase = sys.argv[1].encode() + b"\n"
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
seen = b""
deadline = time.time() + 60
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.5)
    if fd in r:
        try:
            data = os.read(fd, 1024)
        except OSError:
            break
        if not data:
            break
        seen += data
        while b"passphrase" in seen.lower() and b":" in seen[seen.lower().index(b"passphrase"):]:
            os.write(fd, passphrase)
            seen = b""
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
