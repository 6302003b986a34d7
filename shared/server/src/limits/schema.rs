//! The request schema the limits check walks: every message of the
//! platform's contracts, read from the embedded descriptor set, reduced to
//! what a wire-format walk needs (each field's wire shape, its name for
//! error paths, and its bound), and the walk itself.
//!
//! The walk is as strict as prost's decoder on the fields it knows (wire
//! types, lengths, varints, UTF-8), so a message it accepts decodes; it
//! skips unknown fields, as prost does.

use std::collections::HashMap;

use estate_errors::{FieldViolation, thousands};
use prost_types::FileDescriptorSet;
use prost_types::field_descriptor_proto::{Label, Type};

use super::Limits;

/// What a field holds on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Varint,
    Fixed64,
    Fixed32,
    Text,
    Bytes,
    /// A message of the schema (its index).
    Message(usize),
    /// A message type the descriptor set does not describe: its bytes are
    /// bounded, its content left to the decoder.
    Opaque,
}

#[derive(Debug)]
struct Field {
    number: u32,
    name: String,
    shape: Shape,
    repeated: bool,
    /// Most elements, for a repeated field.
    max_elements: usize,
    /// Position among the message's repeated fields, for counting.
    slot: usize,
}

#[derive(Debug, Default)]
struct Message {
    /// Sorted by number.
    fields: Vec<Field>,
    repeated_fields: usize,
}

impl Message {
    fn field(&self, number: u32) -> Option<&Field> {
        self.fields
            .binary_search_by_key(&number, |field| field.number)
            .ok()
            .map(|index| &self.fields[index])
    }
}

/// One method's request: its message and largest encoded size.
#[derive(Debug, Clone, Copy)]
pub(super) struct Method {
    pub(super) input: usize,
    pub(super) max_message_bytes: usize,
    /// Whether the client sends a stream (else exactly one message).
    pub(super) client_streaming: bool,
}

/// Every request message of a descriptor set, ready to be walked.
#[derive(Debug)]
pub struct Schema {
    messages: Vec<Message>,
    methods: HashMap<String, Method>,
    limits: Limits,
}

/// Why a message could not be walked: its bytes are not protobuf.
struct Malformed(&'static str);

/// At most this many violations are collected from one message: enough to
/// fix a request, never proportional to its size.
const MAX_REPORTED: usize = 20;

impl Schema {
    /// The schema of every service and message in `descriptors`, bounded by
    /// `limits`.
    pub fn new(descriptors: &FileDescriptorSet, limits: Limits) -> Self {
        let mut names = HashMap::new();
        let mut declared = Vec::new();
        for file in &descriptors.file {
            let prefix = match file.package() {
                "" => String::new(),
                package => format!(".{package}"),
            };
            for message in &file.message_type {
                index_message(&prefix, message, &mut names, &mut declared);
            }
        }
        let element_limit = |full_name: &str| {
            limits
                .elements
                .iter()
                .find(|(name, _)| name == full_name)
                .map_or(limits.max_elements, |(_, max)| *max)
        };
        let messages = declared
            .iter()
            .map(|(full_name, descriptor)| {
                let mut repeated_fields = 0;
                let mut fields: Vec<Field> = descriptor
                    .field
                    .iter()
                    .map(|field| {
                        let repeated = field.label() == Label::Repeated;
                        let slot = repeated_fields;
                        if repeated {
                            repeated_fields += 1;
                        }
                        let qualified = format!("{}.{}", &full_name[1..], field.name());
                        Field {
                            number: u32::try_from(field.number()).unwrap_or(0),
                            name: field.name().to_owned(),
                            shape: shape(field.r#type(), field.type_name(), &names),
                            repeated,
                            max_elements: element_limit(&qualified),
                            slot,
                        }
                    })
                    .collect();
                fields.sort_by_key(|field| field.number);
                Message {
                    fields,
                    repeated_fields,
                }
            })
            .collect();
        let mut methods = HashMap::new();
        for file in &descriptors.file {
            for service in &file.service {
                for method in &service.method {
                    let Some(&input) = names.get(method.input_type()) else {
                        continue;
                    };
                    let path = format!("/{}.{}/{}", file.package(), service.name(), method.name());
                    let max_message_bytes = limits
                        .message_bytes
                        .iter()
                        .find(|(name, _)| *name == path)
                        .map_or(limits.max_message_bytes, |(_, max)| *max);
                    methods.insert(
                        path,
                        Method {
                            input,
                            max_message_bytes,
                            client_streaming: method.client_streaming(),
                        },
                    );
                }
            }
        }
        Self {
            messages,
            methods,
            limits,
        }
    }

    /// The request of the method at `path` (`/pkg.Service/Method`).
    pub(super) fn method(&self, path: &str) -> Option<Method> {
        self.methods.get(path).copied()
    }

    /// Checks one encoded request message of `method`: every violation
    /// found (up to a bound), or none.
    pub(super) fn check(&self, method: Method, bytes: &[u8]) -> Vec<FieldViolation> {
        let mut walk = Walk {
            schema: self,
            path: Vec::new(),
            violations: Vec::new(),
        };
        if let Err(Malformed(why)) = walk.message(method.input, bytes, 0) {
            let field = walk.path_text();
            walk.violations.push(FieldViolation::new(
                if field.is_empty() {
                    "request".to_owned()
                } else {
                    field
                },
                format!("is not a valid protobuf encoding: {why}"),
            ));
        }
        walk.violations
    }
}

fn index_message<'a>(
    prefix: &str,
    message: &'a prost_types::DescriptorProto,
    names: &mut HashMap<String, usize>,
    declared: &mut Vec<(String, &'a prost_types::DescriptorProto)>,
) {
    let full_name = format!("{prefix}.{}", message.name());
    names.insert(full_name.clone(), declared.len());
    declared.push((full_name.clone(), message));
    for nested in &message.nested_type {
        index_message(&full_name, nested, names, declared);
    }
}

fn shape(kind: Type, type_name: &str, names: &HashMap<String, usize>) -> Shape {
    match kind {
        Type::Int64
        | Type::Uint64
        | Type::Int32
        | Type::Uint32
        | Type::Bool
        | Type::Enum
        | Type::Sint32
        | Type::Sint64 => Shape::Varint,
        Type::Double | Type::Fixed64 | Type::Sfixed64 => Shape::Fixed64,
        Type::Float | Type::Fixed32 | Type::Sfixed32 => Shape::Fixed32,
        Type::String => Shape::Text,
        Type::Bytes => Shape::Bytes,
        Type::Message | Type::Group => names
            .get(type_name)
            .map_or(Shape::Opaque, |index| Shape::Message(*index)),
    }
}

/// A step of the path to the field being walked.
struct Step<'a> {
    name: &'a str,
    index: Option<usize>,
}

struct Walk<'a> {
    schema: &'a Schema,
    path: Vec<Step<'a>>,
    violations: Vec<FieldViolation>,
}

impl<'a> Walk<'a> {
    fn full(&self) -> bool {
        self.violations.len() >= MAX_REPORTED
    }

    /// `records[12].installation.application`
    fn path_text(&self) -> String {
        let mut text = String::new();
        for step in &self.path {
            if !text.is_empty() {
                text.push('.');
            }
            text.push_str(step.name);
            if let Some(index) = step.index {
                text.push_str(&format!("[{index}]"));
            }
        }
        text
    }

    fn refuse(&mut self, description: String) {
        if !self.full() {
            let field = self.path_text();
            self.violations
                .push(FieldViolation::new(field, description));
        }
    }

    fn message(&mut self, index: usize, mut bytes: &[u8], depth: usize) -> Result<(), Malformed> {
        let schema: &'a Schema = self.schema;
        if depth >= schema.limits.max_depth {
            return Err(Malformed("messages are nested too deeply"));
        }
        let message = &schema.messages[index];
        let mut counts = vec![0usize; message.repeated_fields];
        while !bytes.is_empty() {
            if self.full() {
                return Ok(());
            }
            let tag = varint(&mut bytes)?;
            // As prost reads keys: at most 32 bits.
            let tag = u32::try_from(tag).map_err(|_| Malformed("a field key is out of range"))?;
            let number = tag >> 3;
            if number == 0 {
                return Err(Malformed("a field number is 0"));
            }
            let wire_type = (tag & 7) as u8;
            let Some(field) = message.field(number) else {
                skip(wire_type, &mut bytes)?;
                continue;
            };
            let element = if field.repeated {
                Some(counts[field.slot])
            } else {
                None
            };
            self.path.push(Step {
                name: &field.name,
                index: element,
            });
            let walked = self.field(field, wire_type, &mut bytes, depth);
            if walked.is_ok() {
                self.path.pop();
            }
            let elements = walked?;
            if field.repeated {
                counts[field.slot] += elements;
            }
        }
        for field in message.fields.iter().filter(|field| field.repeated) {
            let count = counts[field.slot];
            if count > field.max_elements {
                self.path.push(Step {
                    name: &field.name,
                    index: None,
                });
                self.refuse(format!(
                    "got {} elements, at most {}",
                    thousands(count),
                    thousands(field.max_elements)
                ));
                self.path.pop();
            }
        }
        Ok(())
    }

    /// Walks one occurrence of `field`; returns how many elements it held
    /// (more than one for a packed repeated field).
    fn field(
        &mut self,
        field: &'a Field,
        wire_type: u8,
        bytes: &mut &[u8],
        depth: usize,
    ) -> Result<usize, Malformed> {
        let limits: &'a Limits = &self.schema.limits;
        match (field.shape, wire_type) {
            (Shape::Varint, 0) => varint(bytes).map(|_| 1),
            (Shape::Fixed64, 1) => take(bytes, 8).map(|_| 1),
            (Shape::Fixed32, 5) => take(bytes, 4).map(|_| 1),
            (Shape::Varint | Shape::Fixed64 | Shape::Fixed32, 2) if field.repeated => {
                let mut packed = length_delimited(bytes)?;
                let width = match field.shape {
                    Shape::Fixed64 => 8,
                    Shape::Fixed32 => 4,
                    _ => 0,
                };
                if width > 0 {
                    if !packed.len().is_multiple_of(width) {
                        return Err(Malformed(
                            "a packed field's length is not a whole number of elements",
                        ));
                    }
                    return Ok(packed.len() / width);
                }
                let mut elements = 0;
                while !packed.is_empty() {
                    varint(&mut packed)?;
                    elements += 1;
                }
                Ok(elements)
            }
            (Shape::Text, 2) => {
                let value = length_delimited(bytes)?;
                let Ok(text) = std::str::from_utf8(value) else {
                    self.refuse("is not valid UTF-8".to_owned());
                    return Ok(1);
                };
                if text.contains('\0') {
                    self.refuse("must not contain a NUL character".to_owned());
                }
                let max = limits.max_string_characters;
                if text.len() > max {
                    let characters = text.chars().count();
                    if characters > max {
                        self.refuse(format!(
                            "got {} characters, at most {}",
                            thousands(characters),
                            thousands(max)
                        ));
                    }
                }
                Ok(1)
            }
            (Shape::Bytes | Shape::Opaque, 2) => {
                let value = length_delimited(bytes)?;
                if value.len() > limits.max_bytes {
                    self.refuse(format!(
                        "got {} bytes, at most {}",
                        thousands(value.len()),
                        thousands(limits.max_bytes)
                    ));
                }
                Ok(1)
            }
            (Shape::Message(index), 2) => {
                let value = length_delimited(bytes)?;
                self.message(index, value, depth + 1)?;
                Ok(1)
            }
            _ => Err(Malformed("a field has the wrong wire type")),
        }
    }
}

/// Reads a base-128 varint of at most 10 bytes.
fn varint(bytes: &mut &[u8]) -> Result<u64, Malformed> {
    let mut value: u64 = 0;
    for (position, byte) in bytes.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * position);
        if byte & 0x80 == 0 {
            if position == 9 && *byte > 1 {
                return Err(Malformed("a varint overflows 64 bits"));
            }
            *bytes = &bytes[position + 1..];
            return Ok(value);
        }
    }
    Err(Malformed(if bytes.len() < 10 {
        "the message ends inside a varint"
    } else {
        "a varint is longer than 10 bytes"
    }))
}

fn take<'b>(bytes: &mut &'b [u8], length: usize) -> Result<&'b [u8], Malformed> {
    if bytes.len() < length {
        return Err(Malformed("the message ends inside a field"));
    }
    let (value, rest) = bytes.split_at(length);
    *bytes = rest;
    Ok(value)
}

fn length_delimited<'b>(bytes: &mut &'b [u8]) -> Result<&'b [u8], Malformed> {
    let length = varint(bytes)?;
    let length = usize::try_from(length).map_err(|_| Malformed("a length is out of range"))?;
    take(bytes, length)
}

/// Skips an unknown field.
fn skip(wire_type: u8, bytes: &mut &[u8]) -> Result<(), Malformed> {
    match wire_type {
        0 => varint(bytes).map(|_| ()),
        1 => take(bytes, 8).map(|_| ()),
        2 => length_delimited(bytes).map(|_| ()),
        5 => take(bytes, 4).map(|_| ()),
        _ => Err(Malformed("groups and unknown wire types are not accepted")),
    }
}
