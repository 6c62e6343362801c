# SPDX-License-Identifier: Apache-2.0
TESTS += tests/cli/test_podctl.py
EXTRA_DIST += tests/cli/test_podctl.py
TESTS += tests/cli/test_docs.py
EXTRA_DIST += tests/cli/test_docs.py
TESTS += tests/cli/test_completion.py
EXTRA_DIST += tests/cli/test_completion.py
TESTS += tests/cli/test_errors.py
EXTRA_DIST += tests/cli/test_errors.py tests/cli/conftest.py
