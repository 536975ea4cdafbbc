package virtio

// Device IDs (virtio 1.2, section 5 "Device Types").
const (
	DeviceIDNet     = 1
	DeviceIDBlock   = 2
	DeviceIDConsole = 3
	DeviceIDEntropy = 4
	DeviceIDVsock   = 19
	DeviceID9P      = 9
)

// VendorID is what the VendorID register reports: "BRQE" in ASCII. Drivers
// do not look at it.
const VendorID = 0x45515242

// Reserved feature bits (section 6 "Reserved Feature Bits") the transport
// knows about. Device-specific bits are 0 to 23 (and 50 to 127).
const (
	FeatureIndirectDesc = 1 << 28 // VIRTIO_F_INDIRECT_DESC (section 2.7.5.3)
	FeatureEventIdx     = 1 << 29 // VIRTIO_F_EVENT_IDX (section 2.7.7, 2.7.10)
	FeatureVersion1     = 1 << 32 // VIRTIO_F_VERSION_1: a modern (non-legacy) driver
	FeatureAccess       = 1 << 33 // VIRTIO_F_ACCESS_PLATFORM (never offered)
	FeatureRingPacked   = 1 << 34 // VIRTIO_F_RING_PACKED (never offered)
	FeatureInOrder      = 1 << 35 // VIRTIO_F_IN_ORDER (never offered)

	// TransportFeatures are offered for every device: Transport adds
	// them to the device's own features.
	TransportFeatures = FeatureIndirectDesc | FeatureEventIdx | FeatureVersion1
)

// Device status bits (section 2.1 "Device Status Field").
const (
	StatusAcknowledge      = 1
	StatusDriver           = 2
	StatusDriverOK         = 4
	StatusFeaturesOK       = 8
	StatusDeviceNeedsReset = 64
	StatusFailed           = 128
)

// Interrupt status bits (section 4.2.2, InterruptStatus).
const (
	InterruptUsedBuffer    = 1 << 0
	InterruptConfigChanged = 1 << 1
)

// MMIO register offsets (section 4.2.2, "MMIO Device Register Layout",
// version 2). All are 32 bits wide; the driver must use aligned 32-bit
// accesses except for the configuration space at RegConfig.
const (
	RegMagicValue        = 0x000 // R: 0x74726976 ("virt")
	RegVersion           = 0x004 // R: 2
	RegDeviceID          = 0x008 // R
	RegVendorID          = 0x00c // R
	RegDeviceFeatures    = 0x010 // R: 32 feature bits selected by RegDeviceFeaturesSel
	RegDeviceFeaturesSel = 0x014 // W
	RegDriverFeatures    = 0x020 // W
	RegDriverFeaturesSel = 0x024 // W
	RegQueueSel          = 0x030 // W
	RegQueueNumMax       = 0x034 // R
	RegQueueNum          = 0x038 // W
	RegQueueReady        = 0x044 // RW
	RegQueueNotify       = 0x050 // W: queue index
	RegInterruptStatus   = 0x060 // R
	RegInterruptACK      = 0x064 // W
	RegStatus            = 0x070 // RW
	RegQueueDescLow      = 0x080 // W
	RegQueueDescHigh     = 0x084 // W
	RegQueueDriverLow    = 0x090 // W (available ring)
	RegQueueDriverHigh   = 0x094 // W
	RegQueueDeviceLow    = 0x0a0 // W (used ring)
	RegQueueDeviceHigh   = 0x0a4 // W
	RegSHMSel            = 0x0ac // W
	RegSHMLenLow         = 0x0b0 // R
	RegSHMLenHigh        = 0x0b4 // R
	RegSHMBaseLow        = 0x0b8 // R
	RegSHMBaseHigh       = 0x0bc // R
	RegQueueReset        = 0x0c0 // RW (VIRTIO_F_RING_RESET, not offered)
	RegConfigGeneration  = 0x0fc // R
	RegConfig            = 0x100 // device configuration space starts here

	MagicValue = 0x74726976
	Version    = 2
)

// Split virtqueue layout (section 2.7).
const (
	DescFlagNext     = 1 // VIRTQ_DESC_F_NEXT
	DescFlagWrite    = 2 // VIRTQ_DESC_F_WRITE: device-writable buffer
	DescFlagIndirect = 4 // VIRTQ_DESC_F_INDIRECT: buffer is a descriptor table

	AvailFlagNoInterrupt = 1 // VIRTQ_AVAIL_F_NO_INTERRUPT
	UsedFlagNoNotify     = 1 // VIRTQ_USED_F_NO_NOTIFY

	DescSize     = 16 // struct virtq_desc
	UsedElemSize = 8  // struct virtq_used_elem

	DescAlign  = 16 // alignment of the descriptor table
	AvailAlign = 2  // alignment of the available ring
	UsedAlign  = 4  // alignment of the used ring

	// MaxQueueSize is the largest split virtqueue (section 2.7).
	MaxQueueSize = 32768
)

// DescTableSize, AvailRingSize and UsedRingSize are the sizes in bytes of
// the three areas of a split virtqueue of n entries (section 2.7),
// including the event-index fields.
func DescTableSize(n uint16) uint64 { return DescSize * uint64(n) }

// AvailRingSize: flags, idx, ring[n], used_event.
func AvailRingSize(n uint16) uint64 { return 6 + 2*uint64(n) }

// UsedRingSize: flags, idx, ring[n] of {id, len}, avail_event.
func UsedRingSize(n uint16) uint64 { return 6 + UsedElemSize*uint64(n) }
