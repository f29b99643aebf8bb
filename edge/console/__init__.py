"""The technicians' console: a shell on the box's serial port (115200 8N1) for field work.

``hall console --serial PORT`` serves one port (any pyserial URL); in production
``hall-console@ttyS0.service`` does, in place of a getty. See :mod:`edge.console.shell`
for sign-in and auditing, :mod:`edge.console.terminal` for VT100 and dumb terminals.
"""
