// ControlRoomKit
