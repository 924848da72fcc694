// Package all links every built-in protocol: importing it registers each
// with the config schema and the device registry, as Telegraf's
// plugins/inputs/all does. A new protocol adds one line here.
package all

import (
	_ "hazgate/protocols/gb26875"
	_ "hazgate/protocols/modbus"
	_ "hazgate/protocols/mqtt"
)
