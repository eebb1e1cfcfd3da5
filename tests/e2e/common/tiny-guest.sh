# SPDX-License-Identifier: Apache-2.0
# Scenario (runs inside the phone): the tiny-guest harness on the phone's
# KVM, which has SVM with nested paging underneath. Prints the guest's
# ucall results; the test on the host checks them.
grep -q svm /proc/cpuinfo || { echo "no SVM in the phone"; exit 1; }
[ -c /dev/kvm ] || { echo "no /dev/kvm in the phone"; exit 1; }
echo "kvm modules: $(cut -d' ' -f1 /proc/modules | grep kvm | sort | tr '\n' ' ')"
./test_ucall
