# SPDX-License-Identifier: Apache-2.0
# Sources of the security module are added here.
