// PanicUplink
