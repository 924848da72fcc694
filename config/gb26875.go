package config

// GB26875Device holds the keys only GB/T 26875.3 listeners have: a device
// of this protocol is a TCP listener that 用户信息传输装置 connect to.
type GB26875Device struct{}

// validateGB26875 checks a gb26875 listener's own keys.
func (d *decoder) validateGB26875(dev *Device, p string) {}
