# SPDX-License-Identifier: Apache-2.0
# Sources of the monitor module are added here.
