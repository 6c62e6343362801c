# SPDX-License-Identifier: Apache-2.0
"""Turns a pytest JUnit XML report into TAP for automake's tap-driver."""
import sys
import xml.etree.ElementTree as ET


def main():
    path, rc = sys.argv[1], int(sys.argv[2])
    try:
        cases = list(ET.parse(path).getroot().iter("testcase"))
    except (ET.ParseError, OSError) as e:
        print("1..1")
        print(f"not ok 1 - pytest produced no report ({e}; exit {rc})")
        return
    if not cases:
        # rc 5 is "no tests collected": that is a failure of the suite, not a pass.
        print("1..1")
        print(f"not ok 1 - no test collected (pytest exit {rc})")
        return
    print(f"1..{len(cases)}")
    for i, c in enumerate(cases, 1):
        name = f"{c.get('classname', '')}::{c.get('name', '')}".replace("#", "")
        skipped = c.find("skipped")
        bad = c.find("failure") if c.find("failure") is not None else c.find("error")
        if skipped is not None:
            reason = (skipped.get("message") or "").replace("\n", " ")
            print(f"ok {i} - {name} # SKIP {reason}")
        elif bad is not None:
            print(f"not ok {i} - {name}")
            for line in (bad.get("message") or "").splitlines()[:20]:
                print(f"# {line}")
        else:
            print(f"ok {i} - {name}")


if __name__ == "__main__":
    main()
