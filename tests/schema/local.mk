# SPDX-License-Identifier: Apache-2.0
TESTS += tests/schema/test_schema.py
EXTRA_DIST += tests/schema/test_schema.py
