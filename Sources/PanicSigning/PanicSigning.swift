// PanicSigning
