use super::{MAX_DEPTH, Protocol, TType, ThriftError};

/// Reads Thrift values from a byte slice in either protocol.
///
/// Every length read from the input is checked against the bytes left before anything is
/// allocated; strings are borrowed from the input. Nesting is capped at [`MAX_DEPTH`].
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    protocol: Protocol,
    depth: usize,
    /// Compact protocol: the last field id of each open struct (field ids are delta-encoded).
    last_field: Vec<i16>,
    current_field: i16,
    /// Compact protocol: a boolean field carries its value in the field header.
    pending_bool: Option<bool>,
    /// Bytes that list elements may still take once decoded, and the limit they started at.
    decoded_left: usize,
    decoded_limit: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], protocol: Protocol) -> Self {
        Self {
            buf,
            pos: 0,
            protocol,
            depth: 0,
            last_field: Vec::new(),
            current_field: 0,
            pending_bool: None,
            decoded_left: usize::MAX,
            decoded_limit: usize::MAX,
        }
    }

    /// A reader that refuses ([`ThriftError::TooLarge`]) once the structs read through
    /// [`Reader::read_struct_list`] would take more than `max_decoded_bytes` in memory: a list
    /// of empty structs takes one byte each on the wire and hundreds once decoded.
    pub fn with_decoded_limit(buf: &'a [u8], protocol: Protocol, max_decoded_bytes: usize) -> Self {
        Self {
            decoded_left: max_decoded_bytes,
            decoded_limit: max_decoded_bytes,
            ..Self::new(buf, protocol)
        }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn invalid<T>(&self, detail: impl Into<String>) -> Result<T, ThriftError> {
        Err(ThriftError::Invalid {
            pos: self.pos,
            detail: detail.into(),
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ThriftError> {
        let end = self.pos.checked_add(n).ok_or(ThriftError::Eof(self.pos))?;
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or(ThriftError::Eof(self.pos))?;
        self.pos = end;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, ThriftError> {
        let b = *self.buf.get(self.pos).ok_or(ThriftError::Eof(self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], ThriftError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn varint(&mut self) -> Result<u64, ThriftError> {
        let mut result = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return self.invalid("varint overflows 64 bits");
            }
            result |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(result);
            }
        }
        self.invalid("varint longer than 10 bytes")
    }

    fn zigzag(&mut self) -> Result<i64, ThriftError> {
        let n = self.varint()?;
        Ok((n >> 1) as i64 ^ -((n & 1) as i64))
    }

    /// A length or count, refused if it exceeds the bytes left (each element takes ≥ 1 byte).
    fn size(&mut self, n: i64, what: &str) -> Result<usize, ThriftError> {
        let remaining = self.buf.len() - self.pos;
        if n < 0 || n as u64 > remaining as u64 {
            return self.invalid(format!("{what} of {n} exceeds the {remaining} bytes left"));
        }
        Ok(n as usize)
    }

    fn enter(&mut self) -> Result<(), ThriftError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ThriftError::TooDeep);
        }
        Ok(())
    }

    fn binary_type(&self, code: u8) -> Result<TType, ThriftError> {
        Ok(match code {
            2 => TType::Bool,
            3 => TType::Byte,
            4 => TType::Double,
            6 => TType::I16,
            8 => TType::I32,
            10 => TType::I64,
            11 => TType::Binary,
            12 => TType::Struct,
            13 => TType::Map,
            14 => TType::Set,
            15 => TType::List,
            other => return self.invalid(format!("unknown binary type {other}")),
        })
    }

    fn compact_type(&self, code: u8) -> Result<TType, ThriftError> {
        Ok(match code {
            1 | 2 => TType::Bool,
            3 => TType::Byte,
            4 => TType::I16,
            5 => TType::I32,
            6 => TType::I64,
            7 => TType::Double,
            8 => TType::Binary,
            9 => TType::List,
            10 => TType::Set,
            11 => TType::Map,
            12 => TType::Struct,
            other => return self.invalid(format!("unknown compact type {other}")),
        })
    }

    /// Reads a message header: `(name, message type, sequence id)`.
    pub fn read_message_begin(&mut self) -> Result<(&'a str, u8, i32), ThriftError> {
        match self.protocol {
            Protocol::Binary => {
                let first = self.read_i32()?;
                if first < 0 {
                    if (first as u32) & 0xffff_0000 != 0x8001_0000 {
                        return self.invalid(format!("bad binary message version {first:#x}"));
                    }
                    let kind = (first & 0xff) as u8;
                    let name = self.read_str()?;
                    let seq = self.read_i32()?;
                    Ok((name, kind, seq))
                } else {
                    let len = self.size(i64::from(first), "message name")?;
                    let name = std::str::from_utf8(self.take(len)?)
                        .or_else(|_| self.invalid("message name is not utf-8"))?;
                    let kind = self.u8()?;
                    let seq = self.read_i32()?;
                    Ok((name, kind, seq))
                }
            }
            Protocol::Compact => {
                let id = self.u8()?;
                if id != 0x82 {
                    return self.invalid(format!("bad compact protocol id {id:#x}"));
                }
                let version_and_type = self.u8()?;
                if version_and_type & 0x1f != 1 {
                    return self
                        .invalid(format!("bad compact version {}", version_and_type & 0x1f));
                }
                let seq = self.varint()? as i32;
                let name = self.read_str()?;
                Ok((name, version_and_type >> 5, seq))
            }
        }
    }

    pub fn read_struct_begin(&mut self) -> Result<(), ThriftError> {
        self.enter()?;
        if self.protocol == Protocol::Compact {
            self.last_field.push(self.current_field);
            self.current_field = 0;
        }
        Ok(())
    }

    pub fn read_struct_end(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        if self.protocol == Protocol::Compact {
            self.current_field = self.last_field.pop().unwrap_or(0);
        }
    }

    /// The next field's type and id, or `None` at the end of the struct.
    pub fn read_field_begin(&mut self) -> Result<Option<(TType, i16)>, ThriftError> {
        match self.protocol {
            Protocol::Binary => {
                let code = self.u8()?;
                if code == 0 {
                    return Ok(None);
                }
                let ttype = self.binary_type(code)?;
                let id = i16::from_be_bytes(self.fixed()?);
                Ok(Some((ttype, id)))
            }
            Protocol::Compact => {
                let header = self.u8()?;
                if header == 0 {
                    return Ok(None);
                }
                let code = header & 0x0f;
                let ttype = self.compact_type(code)?;
                let delta = header >> 4;
                let id = if delta == 0 {
                    let id = self.zigzag()?;
                    i16::try_from(id).or_else(|_| self.invalid(format!("field id {id}")))?
                } else {
                    self.current_field.wrapping_add(i16::from(delta))
                };
                self.current_field = id;
                if ttype == TType::Bool {
                    self.pending_bool = Some(code == 1);
                }
                Ok(Some((ttype, id)))
            }
        }
    }

    pub fn read_bool(&mut self) -> Result<bool, ThriftError> {
        if let Some(b) = self.pending_bool.take() {
            return Ok(b);
        }
        Ok(self.u8()? == 1)
    }

    pub fn read_i16(&mut self) -> Result<i16, ThriftError> {
        match self.protocol {
            Protocol::Binary => Ok(i16::from_be_bytes(self.fixed()?)),
            Protocol::Compact => {
                let v = self.zigzag()?;
                i16::try_from(v).or_else(|_| self.invalid(format!("i16 out of range: {v}")))
            }
        }
    }

    pub fn read_i32(&mut self) -> Result<i32, ThriftError> {
        match self.protocol {
            Protocol::Binary => Ok(i32::from_be_bytes(self.fixed()?)),
            Protocol::Compact => {
                let v = self.zigzag()?;
                i32::try_from(v).or_else(|_| self.invalid(format!("i32 out of range: {v}")))
            }
        }
    }

    pub fn read_i64(&mut self) -> Result<i64, ThriftError> {
        match self.protocol {
            Protocol::Binary => Ok(i64::from_be_bytes(self.fixed()?)),
            Protocol::Compact => self.zigzag(),
        }
    }

    pub fn read_double(&mut self) -> Result<f64, ThriftError> {
        match self.protocol {
            Protocol::Binary => Ok(f64::from_be_bytes(self.fixed()?)),
            Protocol::Compact => Ok(f64::from_le_bytes(self.fixed()?)),
        }
    }

    pub fn read_binary(&mut self) -> Result<&'a [u8], ThriftError> {
        let len = match self.protocol {
            Protocol::Binary => i64::from(self.read_i32()?),
            Protocol::Compact => {
                let n = self.varint()?;
                i64::try_from(n).unwrap_or(i64::MAX)
            }
        };
        let len = self.size(len, "string length")?;
        self.take(len)
    }

    /// A string; invalid UTF-8 is an error.
    pub fn read_str(&mut self) -> Result<&'a str, ThriftError> {
        let bytes = self.read_binary()?;
        std::str::from_utf8(bytes).or_else(|_| self.invalid("string is not utf-8"))
    }

    /// A string, with invalid UTF-8 replaced (clients do send Latin-1 tag values).
    pub fn read_string(&mut self) -> Result<String, ThriftError> {
        Ok(String::from_utf8_lossy(self.read_binary()?).into_owned())
    }

    /// A list or set header: element type and count (count checked against the input left).
    pub fn read_list_begin(&mut self) -> Result<(TType, usize), ThriftError> {
        let (ttype, n) = match self.protocol {
            Protocol::Binary => {
                let code = self.u8()?;
                let ttype = self.binary_type(code)?;
                (ttype, i64::from(self.read_i32()?))
            }
            Protocol::Compact => {
                let header = self.u8()?;
                let ttype = self.compact_type(header & 0x0f)?;
                let short = i64::from(header >> 4);
                let n = if short == 15 {
                    i64::try_from(self.varint()?).unwrap_or(i64::MAX)
                } else {
                    short
                };
                (ttype, n)
            }
        };
        Ok((ttype, self.size(n, "list size")?))
    }

    /// A map header: key type, value type and count.
    pub fn read_map_begin(&mut self) -> Result<(TType, TType, usize), ThriftError> {
        match self.protocol {
            Protocol::Binary => {
                let k = self.u8()?;
                let v = self.u8()?;
                let (k, v) = (self.binary_type(k)?, self.binary_type(v)?);
                let n = i64::from(self.read_i32()?);
                Ok((k, v, self.size(n, "map size")?))
            }
            Protocol::Compact => {
                let n = i64::try_from(self.varint()?).unwrap_or(i64::MAX);
                let n = self.size(n, "map size")?;
                if n == 0 {
                    return Ok((TType::Byte, TType::Byte, 0));
                }
                let kv = self.u8()?;
                Ok((
                    self.compact_type(kv >> 4)?,
                    self.compact_type(kv & 0x0f)?,
                    n,
                ))
            }
        }
    }

    /// Skips a value of the given type (unknown fields), honouring the depth cap.
    pub fn skip(&mut self, ttype: TType) -> Result<(), ThriftError> {
        match ttype {
            TType::Bool => {
                self.read_bool()?;
            }
            TType::Byte => {
                self.u8()?;
            }
            TType::I16 => {
                self.read_i16()?;
            }
            TType::I32 => {
                self.read_i32()?;
            }
            TType::I64 => {
                self.read_i64()?;
            }
            TType::Double => {
                self.read_double()?;
            }
            TType::Binary => {
                self.read_binary()?;
            }
            TType::Struct => {
                self.read_struct_begin()?;
                while let Some((t, _)) = self.read_field_begin()? {
                    self.skip(t)?;
                }
                self.read_struct_end();
            }
            TType::List | TType::Set => {
                self.enter()?;
                let (t, n) = self.read_list_begin()?;
                for _ in 0..n {
                    self.skip(t)?;
                }
                self.depth -= 1;
            }
            TType::Map => {
                self.enter()?;
                let (k, v, n) = self.read_map_begin()?;
                for _ in 0..n {
                    self.skip(k)?;
                    self.skip(v)?;
                }
                self.depth -= 1;
            }
        }
        Ok(())
    }

    /// Reads a list of structs with `item`, checking the element type.
    pub fn read_struct_list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, ThriftError>,
    ) -> Result<Vec<T>, ThriftError> {
        let (t, n) = self.read_list_begin()?;
        if t != TType::Struct {
            return self.invalid(format!("expected a list of structs, got {t:?}"));
        }
        self.enter()?;
        let mut out = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let Some(left) = self.decoded_left.checked_sub(std::mem::size_of::<T>()) else {
                return Err(ThriftError::TooLarge {
                    limit: self.decoded_limit,
                });
            };
            self.decoded_left = left;
            out.push(item(self)?);
        }
        self.depth -= 1;
        Ok(out)
    }
}
