// PanicLinux
