package main

// The protocols built into this binary; each registers itself by name.
import (
	_ "hazgate/protocols/gb26875"
	_ "hazgate/protocols/modbus"
	_ "hazgate/protocols/mqtt"
)
