module gomem

go 1.19
