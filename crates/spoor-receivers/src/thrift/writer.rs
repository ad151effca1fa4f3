use super::{Protocol, TType};

/// Writes Thrift values in either protocol. Used by tests, benches and fuzz seeds to produce what
/// clients send; the receivers only read.
pub struct Writer {
    buf: Vec<u8>,
    protocol: Protocol,
    last_field: Vec<i16>,
    current_field: i16,
    /// Compact protocol: a boolean field's header is written together with its value.
    pending_bool_field: Option<i16>,
}

impl Writer {
    pub fn new(protocol: Protocol) -> Self {
        Self {
            buf: Vec::new(),
            protocol,
            last_field: Vec::new(),
            current_field: 0,
            pending_bool_field: None,
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn varint(&mut self, mut n: u64) {
        loop {
            if n < 0x80 {
                self.buf.push(n as u8);
                return;
            }
            self.buf.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
    }

    fn zigzag(&mut self, n: i64) {
        self.varint(((n << 1) ^ (n >> 63)) as u64);
    }

    fn binary_code(t: TType) -> u8 {
        match t {
            TType::Bool => 2,
            TType::Byte => 3,
            TType::Double => 4,
            TType::I16 => 6,
            TType::I32 => 8,
            TType::I64 => 10,
            TType::Binary => 11,
            TType::Struct => 12,
            TType::Map => 13,
            TType::Set => 14,
            TType::List => 15,
        }
    }

    fn compact_code(t: TType) -> u8 {
        match t {
            TType::Bool => 1,
            TType::Byte => 3,
            TType::I16 => 4,
            TType::I32 => 5,
            TType::I64 => 6,
            TType::Double => 7,
            TType::Binary => 8,
            TType::List => 9,
            TType::Set => 10,
            TType::Map => 11,
            TType::Struct => 12,
        }
    }

    pub fn write_message_begin(&mut self, name: &str, kind: u8, seq: i32) {
        match self.protocol {
            Protocol::Binary => {
                self.write_i32((0x8001_0000u32 | u32::from(kind)) as i32);
                self.write_binary(name.as_bytes());
                self.write_i32(seq);
            }
            Protocol::Compact => {
                self.buf.push(0x82);
                self.buf.push(1 | (kind << 5));
                self.varint(u64::from(seq as u32));
                self.write_binary(name.as_bytes());
            }
        }
    }

    pub fn write_struct_begin(&mut self) {
        if self.protocol == Protocol::Compact {
            self.last_field.push(self.current_field);
            self.current_field = 0;
        }
    }

    pub fn write_struct_end(&mut self) {
        if self.protocol == Protocol::Compact {
            self.current_field = self.last_field.pop().unwrap_or(0);
        }
    }

    pub fn write_field_begin(&mut self, t: TType, id: i16) {
        match self.protocol {
            Protocol::Binary => {
                self.buf.push(Self::binary_code(t));
                self.buf.extend_from_slice(&id.to_be_bytes());
            }
            Protocol::Compact => {
                if t == TType::Bool {
                    self.pending_bool_field = Some(id);
                } else {
                    self.compact_field_header(Self::compact_code(t), id);
                }
            }
        }
    }

    fn compact_field_header(&mut self, code: u8, id: i16) {
        let delta = i32::from(id) - i32::from(self.current_field);
        if (1..=15).contains(&delta) {
            self.buf.push(((delta as u8) << 4) | code);
        } else {
            self.buf.push(code);
            self.zigzag(i64::from(id));
        }
        self.current_field = id;
    }

    pub fn write_field_stop(&mut self) {
        self.buf.push(0);
    }

    pub fn write_bool(&mut self, b: bool) {
        match (self.protocol, self.pending_bool_field.take()) {
            (Protocol::Compact, Some(id)) => self.compact_field_header(if b { 1 } else { 2 }, id),
            (Protocol::Compact, None) => self.buf.push(if b { 1 } else { 2 }),
            (Protocol::Binary, _) => self.buf.push(u8::from(b)),
        }
    }

    pub fn write_i16(&mut self, n: i16) {
        match self.protocol {
            Protocol::Binary => self.buf.extend_from_slice(&n.to_be_bytes()),
            Protocol::Compact => self.zigzag(i64::from(n)),
        }
    }

    pub fn write_i32(&mut self, n: i32) {
        match self.protocol {
            Protocol::Binary => self.buf.extend_from_slice(&n.to_be_bytes()),
            Protocol::Compact => self.zigzag(i64::from(n)),
        }
    }

    pub fn write_i64(&mut self, n: i64) {
        match self.protocol {
            Protocol::Binary => self.buf.extend_from_slice(&n.to_be_bytes()),
            Protocol::Compact => self.zigzag(n),
        }
    }

    pub fn write_double(&mut self, d: f64) {
        match self.protocol {
            Protocol::Binary => self.buf.extend_from_slice(&d.to_be_bytes()),
            Protocol::Compact => self.buf.extend_from_slice(&d.to_le_bytes()),
        }
    }

    pub fn write_binary(&mut self, b: &[u8]) {
        match self.protocol {
            Protocol::Binary => self.write_i32(b.len() as i32),
            Protocol::Compact => self.varint(b.len() as u64),
        }
        self.buf.extend_from_slice(b);
    }

    pub fn write_list_begin(&mut self, t: TType, n: usize) {
        match self.protocol {
            Protocol::Binary => {
                self.buf.push(Self::binary_code(t));
                self.write_i32(n as i32);
            }
            Protocol::Compact => {
                let code = Self::compact_code(t);
                if n < 15 {
                    self.buf.push(((n as u8) << 4) | code);
                } else {
                    self.buf.push(0xf0 | code);
                    self.varint(n as u64);
                }
            }
        }
    }

    #[cfg(test)]
    pub fn write_map_begin(&mut self, k: TType, v: TType, n: usize) {
        match self.protocol {
            Protocol::Binary => {
                self.buf.push(Self::binary_code(k));
                self.buf.push(Self::binary_code(v));
                self.write_i32(n as i32);
            }
            Protocol::Compact => {
                self.varint(n as u64);
                if n > 0 {
                    self.buf
                        .push((Self::compact_code(k) << 4) | Self::compact_code(v));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Reader, ThriftError};
    use super::*;

    fn round_trip(protocol: Protocol) {
        let mut w = Writer::new(protocol);
        w.write_message_begin("emitBatch", 4, 7);
        w.write_struct_begin();
        w.write_field_begin(TType::Bool, 1);
        w.write_bool(true);
        w.write_field_begin(TType::I64, 20);
        w.write_i64(-5);
        w.write_field_begin(TType::List, 21);
        w.write_list_begin(TType::Double, 20);
        for i in 0..20 {
            w.write_double(f64::from(i) / 2.0);
        }
        w.write_field_begin(TType::Map, 22);
        w.write_map_begin(TType::Binary, TType::I32, 1);
        w.write_binary(b"k");
        w.write_i32(-70000);
        w.write_field_begin(TType::Bool, 23);
        w.write_bool(false);
        w.write_field_begin(TType::I16, 3);
        w.write_i16(-3);
        w.write_field_stop();
        w.write_struct_end();
        let bytes = w.into_bytes();

        let mut r = Reader::new(&bytes, protocol);
        assert_eq!(r.read_message_begin().expect("header"), ("emitBatch", 4, 7));
        r.read_struct_begin().expect("struct");
        assert_eq!(r.read_field_begin().expect("f"), Some((TType::Bool, 1)));
        assert!(r.read_bool().expect("bool"));
        assert_eq!(r.read_field_begin().expect("f"), Some((TType::I64, 20)));
        assert_eq!(r.read_i64().expect("i64"), -5);
        assert_eq!(r.read_field_begin().expect("f"), Some((TType::List, 21)));
        assert_eq!(r.read_list_begin().expect("list"), (TType::Double, 20));
        for i in 0..20 {
            assert_eq!(r.read_double().expect("double"), f64::from(i) / 2.0);
        }
        assert_eq!(r.read_field_begin().expect("f"), Some((TType::Map, 22)));
        r.skip(TType::Map).expect("skip map");
        assert_eq!(r.read_field_begin().expect("f"), Some((TType::Bool, 23)));
        assert!(!r.read_bool().expect("bool"));
        assert_eq!(r.read_field_begin().expect("f"), Some((TType::I16, 3)));
        assert_eq!(r.read_i16().expect("i16"), -3);
        assert_eq!(r.read_field_begin().expect("stop"), None);
        r.read_struct_end();
        assert_eq!(r.position(), bytes.len());
    }

    #[test]
    fn round_trips_both_protocols() {
        round_trip(Protocol::Binary);
        round_trip(Protocol::Compact);
    }

    #[test]
    fn refuses_sizes_beyond_the_input() {
        // A binary list header claiming 2^31-1 elements in a 6-byte input.
        let bytes = [12u8, 0x7f, 0xff, 0xff, 0xff, 0];
        let mut r = Reader::new(&bytes, Protocol::Binary);
        assert!(matches!(
            r.read_list_begin(),
            Err(ThriftError::Invalid { .. })
        ));
        // A compact string claiming a huge length.
        let bytes = [0xff, 0xff, 0xff, 0xff, 0x0f, b'a'];
        let mut r = Reader::new(&bytes, Protocol::Compact);
        assert!(r.read_binary().is_err());
    }

    #[test]
    fn caps_nesting_when_skipping() {
        // Compact: struct field 1 containing a struct field 1 … 200 deep.
        let bytes: Vec<u8> = std::iter::repeat_n(0x1c, 200).collect();
        let mut r = Reader::new(&bytes, Protocol::Compact);
        assert_eq!(r.skip(TType::Struct), Err(ThriftError::TooDeep));
    }
}
