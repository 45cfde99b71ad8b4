# ERROR: Missing pipeline block
variable "x" {
  default = 1
}
