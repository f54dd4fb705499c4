// Package escpos speaks ESC/POS, the command language of receipt printers:
// it encodes a printer.Receipt into the byte stream a thermal printer
// prints (Encode, with paper geometry from embedded profiles), decodes the
// printer's status answers (USB GET_PORT_STATUS and the real-time DLE EOT
// requests), and drives a printer over a USB printer-class interface.
package escpos
