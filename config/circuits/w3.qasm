// A three-qubit W state in OpenQASM 3; measured by the workflow (measure_all) since it measures nothing.
OPENQASM 3.0;
include "stdgates.inc";
qubit[3] q;
ry(1.9106332362490186) q[0];
ch q[0], q[1];
cx q[1], q[2];
cx q[0], q[1];
x q[0];
