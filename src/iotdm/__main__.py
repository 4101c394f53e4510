from iotdm.cli import main

main()
