# SPDX-License-Identifier: Apache-2.0
#
# Phone scenario: the VM in /pocketvm/vm has an encrypted root whose key is
# bound to a stock Tang server on the host (10.0.2.100:80 from here). Boot 1
# writes a marker and reboots; boot 2 reads it back and powers off. Then the
# server is unreachable (port 81 leads nowhere): the VM cannot open. Then
# the bindings are destroyed: it can never open again.
set -u
run() {
	./pocketvm run /pocketvm/vm --vmm ./pocketvm-vmm --tang-url "$1" --timeout 5 < /dev/null
}
run http://10.0.2.100:80
echo "SCENARIO: boot1 exit $?"
run http://10.0.2.100:80
echo "SCENARIO: boot2 exit $?"
out=$(run http://10.0.2.100:81 2>&1)
echo "SCENARIO: tang down exit $? $out"
./pocketvm image unbind /pocketvm/vm/enc.img --erase
echo "SCENARIO: erase exit $?"
out=$(run http://10.0.2.100:80 2>&1)
echo "SCENARIO: after erase exit $? $out"
