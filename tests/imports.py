"""What importing a module pulls in, seen from a fresh interpreter."""

import subprocess
import sys


def top_level_modules_after(statement: str) -> set[str]:
    """Top-level package names in ``sys.modules`` after running ``statement`` in a new process."""
    code = f"import sys; {statement}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(result.stdout.split())
