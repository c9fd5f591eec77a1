"""pyserial URL handlers of this project; `robot.link` registers the package with pyserial."""
