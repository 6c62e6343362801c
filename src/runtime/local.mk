# SPDX-License-Identifier: Apache-2.0
# Sources of the runtime module are added here.
